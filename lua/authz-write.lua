-- authz-write: caches a decision only if no invalidation happened since the read that preceded it.
-- KEYS[1] global generation, KEYS[2] subject generation, KEYS[3] decision; all three share one hash tag.
-- ARGV[1] global gen the read saw ('' = none), ARGV[2] subject gen the read saw ('' = none),
-- ARGV[3] '1' allow | '0' deny, ARGV[4] decision TTL in ms,
-- ARGV[5] fresh global gen to create when none exists, ARGV[6] fresh subject gen likewise,
-- ARGV[7] generation TTL in ms (longer than any decision TTL).
-- Reply: 1 when cached, 0 when a generation changed since the read (the decision may predate an
-- invalidation, so it is dropped).
local g = redis.call('GET', KEYS[1])
local s = redis.call('GET', KEYS[2])
if (g or '') ~= ARGV[1] or (s or '') ~= ARGV[2] then
  return 0
end
local ttl = tonumber(ARGV[4])
local genTtl = tonumber(ARGV[7])
if not g then
  g = ARGV[5]
  redis.call('SET', KEYS[1], g, 'PX', genTtl)
elseif redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], genTtl)
end
if not s then
  s = ARGV[6]
  redis.call('SET', KEYS[2], s, 'PX', genTtl)
elseif redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], genTtl)
end
redis.call('SET', KEYS[3], g .. ':' .. s .. ':' .. ARGV[3], 'PX', ttl)
return 1
