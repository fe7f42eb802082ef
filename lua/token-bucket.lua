-- token-bucket.lua: take tokens from one token bucket, atomically.
--
-- The bucket is kept in its GCRA form: the only state is the instant (in
-- microseconds, Redis TIME) at which the bucket will be full again. A missing
-- key is a full bucket; the key expires exactly when the bucket refills, so
-- idle buckets vanish. Everything is integer microseconds, so no fraction is
-- ever stored or replied (Redis truncates Lua floats).
--
-- KEYS[1]  the bucket
-- ARGV[1]  capacity: whole tokens the bucket holds (integer >= 1)
-- ARGV[2]  refill rate, as microseconds per token (integer >= 1)
-- ARGV[3]  cost: tokens to take (integer >= 0, at most the capacity)
-- ARGV[4]  '1' to only look (a dry run never writes), anything else to take
-- Reply:   { allowed (1 or 0), remaining whole tokens after this decision,
--            retryAfterMs (ms until the cost could be paid, rounded up; 0 when allowed),
--            resetMs (ms until the bucket is full, rounded up) }
-- Errors:  'INVALID_ARGUMENT …' for arguments that could never be valid.
-- Writes:  only when tokens are taken (a refusal, a dry run or a cost of 0 writes nothing).

local capacity = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
if not (capacity and interval and cost) or capacity < 1 or interval < 1 or cost < 0 then
  return redis.error_reply('INVALID_ARGUMENT capacity, refill interval and cost must be numbers (capacity >= 1, interval >= 1, cost >= 0)')
end
if cost > capacity then
  return redis.error_reply('INVALID_ARGUMENT cost ' .. ARGV[3] .. ' exceeds the capacity ' .. ARGV[1] .. ': it could never be paid')
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local fullAt = tonumber(redis.call('GET', KEYS[1])) or now
if fullAt < now then fullAt = now end

local burst = capacity * interval
local after = fullAt + cost * interval
local allowed = after - now <= burst
local debt = fullAt - now
local retryAfterMs = 0
if allowed then
  debt = after - now
  if cost > 0 and ARGV[4] ~= '1' then
    redis.call('SET', KEYS[1], after, 'PX', math.ceil(debt / 1000))
  end
else
  retryAfterMs = math.ceil((after - now - burst) / 1000)
end

local remaining = math.max(0, capacity - math.ceil(debt / interval))
return { allowed and 1 or 0, remaining, retryAfterMs, math.ceil(debt / 1000) }
