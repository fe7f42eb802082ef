-- Removes session ids from their user's index and prunes expired entries; the
-- index then lives as long as its longest remaining session (gone when empty).
-- KEYS[1] the user's index (sorted set: session id -> expiry, epoch ms)
-- ARGV[1..n] the session ids to remove
-- Reply: how many ids were in the index
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local removed = 0
for i = 1, #ARGV do
  removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
return removed
