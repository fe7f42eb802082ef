-- cache-release: deletes the load lock only while it still holds this caller's token (never another's).
-- KEYS[1] the lock. ARGV[1] the caller's token.
-- Reply: 1 when released, 0 when the lock had expired or belonged to someone else.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
