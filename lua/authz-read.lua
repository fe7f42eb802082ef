-- authz-read: the cached decision, if it was made under the current generations.
-- KEYS[1] global generation (string), KEYS[2] subject generation (string),
-- KEYS[3] decision (string "<global gen>:<subject gen>:<1|0>"); all three share one hash tag.
-- ARGV: none.
-- Reply: { 'hit', '1' | '0' } when the decision carries both current generations,
--        else { 'miss', <global gen or ''>, <subject gen or ''> } (what a later authz-write must still see).
-- A missing generation means "invalidated or never cached": nothing matches it.
local g = redis.call('GET', KEYS[1])
local s = redis.call('GET', KEYS[2])
if g and s then
  local d = redis.call('GET', KEYS[3])
  if d then
    local tag = g .. ':' .. s .. ':'
    if #d == #tag + 1 and string.sub(d, 1, #tag) == tag then
      return { 'hit', string.sub(d, -1) }
    end
  end
end
return { 'miss', g or '', s or '' }
