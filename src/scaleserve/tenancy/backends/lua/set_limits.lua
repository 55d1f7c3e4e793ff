-- Replace a tenant's limits, only if the tenant exists (HSET alone would create it).
-- KEYS[1] the tenant's record
-- ARGV[1] limits (JSON)
-- Returns the record as HGETALL does, or nil when there is no such tenant.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
redis.call('HSET', KEYS[1], 'limits', ARGV[1])
return redis.call('HGETALL', KEYS[1])
