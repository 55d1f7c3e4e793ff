-- Record a job and queue its items in one step: the job exists and is queued, or neither.
-- KEYS[1] stream, KEYS[2] depth, KEYS[3] job hash, KEYS[4] job events
-- ARGV[1] bound, ARGV[2] item count n, ARGV[3] values per item f, ARGV[4] job field count m,
-- then m job field/value pairs, then n * f item field/value pairs.
-- Returns 1, or -1 when the model's bound refuses it.
local bound, n, f, m = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local depth = tonumber(redis.call('GET', KEYS[2]) or '0')
if depth + n > bound then
  return -1
end
redis.call('HSET', KEYS[3], unpack(ARGV, 5, 4 + m))
redis.call('HSET', KEYS[3], 'seq', 1, 'done', 0)
redis.call('XADD', KEYS[4], '0-1', 's', 'queued')
redis.call('INCRBY', KEYS[2], n)
local at = 5 + m
for k = 1, n do
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, at, at + f - 1))
  at = at + f
end
return 1
