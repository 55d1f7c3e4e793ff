-- Record a new API key of an active tenant: its record (under its hash), its id -> hash
-- entry and its id in the tenant's set, all or nothing.
-- KEYS[1] the tenant's record, KEYS[2] the tenant's key ids, KEYS[3] the key's record,
-- KEYS[4] key id -> hash
-- ARGV[1] key id, ARGV[2] key hash, ARGV[3] tenant, ARGV[4] label, ARGV[5] created_at
-- Returns 1; 0 when the id or the hash is taken; -1 when the tenant is missing or revoked.
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'revoked_at') == 1 then
  return -1
end
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'tenant', ARGV[3], 'label', ARGV[4],
  'created_at', ARGV[5])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
