-- Revokes one session whose user is not known yet: deletes the cached copy,
-- tombstones the id for the revocation window, and answers the value it held
-- (the caller reads the user from it, to take the id out of the index).
-- KEYS[1] the session (string), KEYS[2] its tombstone (string)
-- ARGV[1] the revocation window in ms
-- Reply: the deleted value, or nil when nothing was cached
local value = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
return value
