-- Adds (or slides) one session in its user's index, pruning expired entries.
-- Used on a Redis Cluster when the session and the index live in different
-- slots: the index entry is written before the session, so a session is never
-- cached without being found by deleteAllForUser.
-- KEYS[1] the user's index (sorted set: session id -> expiry, epoch ms)
-- ARGV[1] session id, ARGV[2] TTL in ms (positive integer)
-- Reply: 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
