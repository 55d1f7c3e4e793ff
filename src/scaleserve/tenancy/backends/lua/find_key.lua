-- The hot path of authentication: an API key's record and its tenant's record in one
-- round trip.
-- KEYS[1] the key's record
-- ARGV[1] the name of a tenant's record less the tenant's name
--   (RedisKeys.tenant(''): which tenant is known only once the key is read)
-- Returns {key record, tenant record} as HGETALL does, or nil when there is no such key.
local tenant = redis.call('HGET', KEYS[1], 'tenant')
if not tenant then
  return false
end
return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', ARGV[1] .. tenant)}
