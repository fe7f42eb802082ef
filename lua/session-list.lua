-- Prunes a user's index of expired entries and lists the live session ids.
-- KEYS[1] the user's index (sorted set: session id -> expiry, epoch ms)
-- ARGV none
-- Reply: the live session ids, soonest to expire first
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
