-- authz-log-append: one policy edit appended to the policy log every instance replays.
-- KEYS[1] version (string integer: how many edits), KEYS[2] log (hash: version -> edit JSON); one hash tag.
-- ARGV[1] the edit (JSON).
-- Reply: the edit's version (1, 2, …).
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], tostring(n), ARGV[1])
return n
