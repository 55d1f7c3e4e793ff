-- Revoke a tenant and every key of it in one step; earlier revocation times stay.
-- add_key refuses a revoked tenant, so no key can slip in after this.
-- KEYS[1] the tenant's record, KEYS[2] the tenant's key ids, KEYS[3] key id -> hash
-- ARGV[1] now, ARGV[2] the name of a key's record less the key's hash
--   (RedisKeys.api_key(''): the records to revoke are known only once the ids are read)
-- Returns the tenant's record as HGETALL does, or nil when there is no such tenant.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
redis.call('HSETNX', KEYS[1], 'revoked_at', ARGV[1])
for _, id in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local hash = redis.call('HGET', KEYS[3], id)
  if hash and redis.call('EXISTS', ARGV[2] .. hash) == 1 then
    redis.call('HSETNX', ARGV[2] .. hash, 'revoked_at', ARGV[1])
  end
end
return redis.call('HGETALL', KEYS[1])
