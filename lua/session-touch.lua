-- Writes back a session updated by its reader (touch), only if it is still the
-- value that was read: a touch never resurrects a deleted session and never
-- overwrites a newer write. With KEYS[2], slides its entry in the user's index.
-- KEYS[1] the session (string)
-- KEYS[2] optional: the user's index (sorted set: session id -> expiry, epoch ms)
-- ARGV[1] session id, ARGV[2] SHA1 (hex) of the value read, ARGV[3] new value,
-- ARGV[4] new TTL in ms (positive integer)
-- Reply: 1 written, 0 the session is gone, -1 it changed since it was read
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if redis.sha1hex(current) ~= ARGV[2] then return -1 end

local ttl = tonumber(ARGV[4])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
if KEYS[2] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], last[2])
end
return 1
