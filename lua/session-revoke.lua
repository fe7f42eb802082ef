-- Revokes sessions: deletes each cached copy and tombstones its id for the
-- revocation window, so a re-cache of a stale copy within it is refused. With
-- the user's index as the last key, also removes ids from it: the ids of the
-- pairs, and any more given after them (sessions of other slots, revoked just
-- before by their own calls).
-- KEYS[1..2n] pairs: a session (string), then its tombstone (string)
-- KEYS[2n+1] optional: the user's index (sorted set: session id -> expiry, epoch ms)
-- ARGV[1] the revocation window in ms, ARGV[2..n+1] the ids of the pairs, in
-- KEYS order, ARGV[n+2..] more ids to take out of the index (only with an index)
-- Reply: how many cached sessions were deleted
local n = math.floor(#KEYS / 2)
local deleted = 0
for i = 1, n do
  deleted = deleted + redis.call('DEL', KEYS[2 * i - 1])
  redis.call('SET', KEYS[2 * i], '1', 'PX', ARGV[1])
end
local index = KEYS[2 * n + 1]
if index then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for i = 2, #ARGV do redis.call('ZREM', index, ARGV[i]) end
  redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
  local last = redis.call('ZRANGE', index, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', index, last[2]) end
end
return deleted
