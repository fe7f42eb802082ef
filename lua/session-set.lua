-- Caches one session and adds it to its user's index in one atomic step,
-- unless the id was revoked (tombstoned) since: a late re-cache of a stale
-- copy never brings a revoked session back.
-- KEYS[1] the session (string)
-- KEYS[2] the user's index (sorted set: session id -> expiry, epoch ms)
-- KEYS[3] the user's tombstones (sorted set: revoked id -> forget-after, epoch ms)
-- ARGV[1] session id, ARGV[2] encoded session, ARGV[3] TTL in ms (positive integer)
-- Reply: 1 stored, 0 refused (the id is revoked)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])

redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end

redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
-- the index lives exactly as long as its longest session
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
return 1
