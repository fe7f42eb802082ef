-- Revokes sessions of one user: deletes each cached copy, removes it from the
-- index and tombstones its id, so a later re-cache of a stale copy is refused.
-- A tombstone is kept for ARGV[1] ms, and at least as long as the cached copy
-- would have lived.
-- KEYS[1] the user's index (sorted set: session id -> expiry, epoch ms)
-- KEYS[2] the user's tombstones (sorted set: revoked id -> forget-after, epoch ms)
-- KEYS[3..n] the sessions to revoke (strings)
-- ARGV[1] tombstone lifetime in ms, ARGV[2..n-1] the ids of KEYS[3..n], in order
-- Reply: how many cached sessions were deleted
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keep = now + tonumber(ARGV[1])
local deleted = 0

for i = 3, #KEYS do
  local id = ARGV[i - 1]
  deleted = deleted + redis.call('DEL', KEYS[i])
  local forget = keep
  local cached = tonumber(redis.call('ZSCORE', KEYS[1], id))
  if cached and cached > forget then forget = cached end
  local earlier = tonumber(redis.call('ZSCORE', KEYS[2], id))
  if earlier and earlier > forget then forget = earlier end
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], forget, id)
end

-- both sets live exactly as long as their last entry
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
return deleted
