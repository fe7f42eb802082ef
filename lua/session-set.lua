-- Caches one session, unless its id was revoked (tombstoned) within the
-- revocation window: a late re-cache of a stale copy never brings a revoked
-- session back. With KEYS[3], also indexes it under its user in the same step
-- (only when the index shares the session's slot, or on a single node).
-- KEYS[1] the session (string)
-- KEYS[2] the session's tombstone (string, lives the revocation window)
-- KEYS[3] optional: the user's index (sorted set: session id -> expiry, epoch ms)
-- ARGV[1] session id, ARGV[2] encoded session, ARGV[3] TTL in ms (positive integer)
-- Reply: 1 stored, 0 refused (the id is revoked)
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if KEYS[3] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
  -- the index lives exactly as long as its longest session
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[3], last[2])
end
return 1
