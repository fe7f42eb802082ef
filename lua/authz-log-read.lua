-- authz-log-read: the current policy version and the edits an instance has not applied yet.
-- KEYS[1] version (string integer), KEYS[2] log (hash: version -> edit JSON); one hash tag.
-- ARGV[1] the version the caller has applied, ARGV[2] the most edits to return.
-- Reply: { version, edit(applied + 1), edit(applied + 2), … } (an edit missing from the log is '').
-- A version below the caller's means the log was lost (Redis flushed): the caller starts over.
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local from = tonumber(ARGV[1])
local last = math.min(v, from + tonumber(ARGV[2]))
local reply = { v }
for i = from + 1, last do
  reply[#reply + 1] = redis.call('HGET', KEYS[2], tostring(i)) or ''
end
return reply
