-- cache-claim: SET NX PX, answering who holds the key: the cache-aside load lock and the namespace generations.
-- KEYS[1] the key. ARGV[1] the value to set when the key is absent, ARGV[2] its TTL in ms ('0' = none).
-- Reply: the key's value after the call (ARGV[1] when this call set it, else the value already there).
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
if ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return ARGV[1]
