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
-- ARGV[4i]     mode, the sum of: 1 only look (a dry run never writes; '1' alone is a
--              plain dry run, '0' a plain take); 2 continue exceeding (a refusal
--              empties the bucket: the refill starts again from it); 4 exponential
--              backoff (the nth refusal in a row: full again a whole refill × 2^(n-1)
--              later); 8 count refusals in a row; 16 × (ban + 1) with a ban: the
--              refusal that makes the count exceed `ban` empties the bucket, and the
--              key is refused (banned) until the bucket is full again, a whole refill later
--              Modes 2 to 16 keep the count of refusals in a row with the instant,
--              as "<instant>:<count>"; an allowed take or a full bucket resets it.
--              A penalty moves the instant the bucket is full again: a whole refill
--              from the refusal (continue exceeding; the refusal exceeding a ban),
--              refill × 2^(n-1) (backoff); tokens come back at the usual rate meanwhile.
-- ARGV[4n+1]   optional: the time to decide at, integer microseconds since the epoch
--              (the limiter's `clock: 'process'`); absent, Redis TIME
-- Reply:       five integers per bucket, in order: allowed (1 or 0), remaining
--              whole tokens after this decision (a dry run: whole tokens now),
--              retryAfterMs (ms until the cost could be paid, rounded up; 0 when
--              allowed), resetMs (ms until the bucket is full, rounded up),
--              refusals in a row (this one included; 0 when allowed; 1 for a
--              refusal when not counted)
-- Errors:      'INVALID_ARGUMENT …' when any bucket's arguments could never be
--              valid; then nothing at all is written.
-- Writes:      when tokens are taken, and when a counted refusal is recorded
--              (a plain refusal, a dry run or a cost of 0 writes nothing).

local n = #KEYS
if #ARGV ~= 4 * n and #ARGV ~= 4 * n + 1 then
  return redis.error_reply('INVALID_ARGUMENT expected four arguments per key (and optionally the time), got ' .. #ARGV .. ' for ' .. n)
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

-- the longest wait a penalty may set (about 31 years), keeping µs instants exact in doubles
local MAX_WAIT = 1e15
local now
if #ARGV > 4 * n then
  now = tonumber(ARGV[#ARGV])
  if not now or now < 0 or now ~= math.floor(now) then
    return redis.error_reply('INVALID_ARGUMENT the time must be whole microseconds since the epoch')
  end
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local reply = {}

for k = 1, n do
  local i = 4 * k
  local j = 3 * (k - 1)
  local capacity, interval, cost = num[j + 1], num[j + 2], num[j + 3]
  local mode = tonumber(ARGV[i]) or 0
  local dry = mode % 2 == 1
  local stateful = mode >= 2
  local raw = redis.call('GET', KEYS[k])
  local fullAt, streak = nil, 0
  if raw then
    local sep = string.find(raw, ':', 1, true)
    if sep then
      fullAt = tonumber(string.sub(raw, 1, sep - 1))
      streak = tonumber(string.sub(raw, sep + 1)) or 0
    else
      fullAt = tonumber(raw)
    end
  end
  if not fullAt or fullAt < now then fullAt = now; streak = 0 end

  local window = capacity * interval
  local after = fullAt + cost * interval
  -- a ban (mode 16 × (ban + 1)) holds until the bucket is full again
  local ban = math.floor(mode / 16) - 1
  local banned = ban >= 0 and streak > ban and fullAt > now
  local allowed = after - now <= window and not banned
  local debt = fullAt - now
  local retryAfterMs = 0
  local refusals = 0
  if allowed then
    -- a dry run reports the bucket as it stands: nothing taken
    if not dry then
      debt = after - now
      if cost > 0 or (stateful and streak > 0) then
        redis.call('SET', KEYS[k], after, 'PX', math.max(1, math.ceil(debt / 1000)))
      end
    end
  else
    refusals = 1
    if stateful then
      refusals = streak + 1
      if not dry then
        -- a penalty: the bucket is full again only `refill` from now (tokens come back at the usual rate meanwhile)
        local refill = 0
        if math.floor(mode / 4) % 2 == 1 then
          refill = math.min(window * 2 ^ (refusals - 1), MAX_WAIT)
        elseif math.floor(mode / 2) % 2 == 1 then
          refill = window
        end
        if ban >= 0 and refusals == ban + 1 and refill < window then refill = window end
        if now + refill > fullAt then fullAt = now + refill end
        debt = fullAt - now
        banned = ban >= 0 and refusals > ban
        redis.call('SET', KEYS[k], string.format('%.0f:%d', fullAt, refusals), 'PX', math.ceil(debt / 1000))
      end
    end
    if banned then
      -- banned: no token before the bucket is full
      retryAfterMs = math.ceil(debt / 1000)
    else
      retryAfterMs = math.ceil((fullAt + cost * interval - now - window) / 1000)
    end
  end

  local r = 5 * (k - 1)
  reply[r + 1] = allowed and 1 or 0
  reply[r + 2] = banned and 0 or math.max(0, capacity - math.ceil(debt / interval))
  reply[r + 3] = retryAfterMs
  reply[r + 4] = math.ceil(debt / 1000)
  reply[r + 5] = refusals
end
return reply
