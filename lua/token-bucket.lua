-- token-bucket.lua: take tokens from token buckets, atomically.
--
-- Each bucket is kept in its GCRA form: the only state is the instant (in
-- microseconds, Redis TIME) at which the bucket will be full again. A missing
-- key is a full bucket; the key expires exactly when the bucket refills, so
-- idle buckets vanish. Everything is integer microseconds, so no fraction is
-- ever stored or replied (Redis truncates Lua floats).
--
-- One call decides for one bucket or for several (the limiter batches the
-- requests that arrive together into one call): each bucket is its own key and
-- is decided as if by a call of its own, in order, at one Redis TIME.
--
-- KEYS[i]      bucket i
-- ARGV[4i-3]   its capacity: whole tokens the bucket holds (integer >= 1)
-- ARGV[4i-2]   its refill rate, as microseconds per token (integer >= 1)
-- ARGV[4i-1]   cost: tokens to take (integer >= 0, at most the capacity)
-- ARGV[4i]     '1' to only look (a dry run never writes), anything else to take
-- Reply:       four integers per bucket, in order: allowed (1 or 0), remaining
--              whole tokens after this decision, retryAfterMs (ms until the cost
--              could be paid, rounded up; 0 when allowed), resetMs (ms until the
--              bucket is full, rounded up)
-- Errors:      'INVALID_ARGUMENT …' when any bucket's arguments could never be
--              valid; then nothing at all is written.
-- Writes:      only when tokens are taken (a refusal, a dry run or a cost of 0 writes nothing).

local n = #KEYS
if #ARGV ~= 4 * n then
  return redis.error_reply('INVALID_ARGUMENT expected four arguments per key, got ' .. #ARGV .. ' for ' .. n)
end
-- every bucket is parsed and checked before any is decided: a bad one writes nothing at all
local num = {}
for i = 4, #ARGV, 4 do
  local capacity = tonumber(ARGV[i - 3])
  local interval = tonumber(ARGV[i - 2])
  local cost = tonumber(ARGV[i - 1])
  if not (capacity and interval and cost) or capacity < 1 or interval < 1 or cost < 0 then
    return redis.error_reply('INVALID_ARGUMENT capacity, refill interval and cost must be numbers (capacity >= 1, interval >= 1, cost >= 0)')
  end
  if cost > capacity then
    return redis.error_reply('INVALID_ARGUMENT cost ' .. ARGV[i - 1] .. ' exceeds the capacity ' .. ARGV[i - 3] .. ': it could never be paid')
  end
  local j = #num
  num[j + 1], num[j + 2], num[j + 3] = capacity, interval, cost
end

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local reply = {}

for k = 1, n do
  local i = 4 * k
  local j = 3 * (k - 1)
  local capacity, interval, cost = num[j + 1], num[j + 2], num[j + 3]
  local fullAt = tonumber(redis.call('GET', KEYS[k])) or now
  if fullAt < now then fullAt = now end

  local after = fullAt + cost * interval
  local allowed = after - now <= capacity * interval
  local debt = fullAt - now
  local retryAfterMs = 0
  if allowed then
    debt = after - now
    if cost > 0 and ARGV[i] ~= '1' then
      redis.call('SET', KEYS[k], after, 'PX', math.ceil(debt / 1000))
    end
  else
    retryAfterMs = math.ceil((after - now - capacity * interval) / 1000)
  end

  reply[i - 3] = allowed and 1 or 0
  reply[i - 2] = math.max(0, capacity - math.ceil(debt / interval))
  reply[i - 1] = retryAfterMs
  reply[i] = math.ceil(debt / 1000)
end
return reply
