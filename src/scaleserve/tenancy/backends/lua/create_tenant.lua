-- Create a tenant: its record and its name in the set of tenants, or neither when the name
-- was ever taken (revoked tenants keep their record, so their names are never reused).
-- KEYS[1] set of tenants, KEYS[2] the tenant's record
-- ARGV[1] name, ARGV[2] limits (JSON), ARGV[3] created_at
-- Returns 1, or 0 when the name is taken.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('HSET', KEYS[2], 'limits', ARGV[2], 'created_at', ARGV[3])
redis.call('SADD', KEYS[1], ARGV[1])
return 1
