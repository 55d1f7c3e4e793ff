-- Admit and queue items atomically: refuse all of them if the model's bound would be passed.
-- KEYS[1] stream, KEYS[2] depth counter
-- ARGV[1] bound, ARGV[2] item count n, ARGV[3] values per item f, then n * f field/value pairs
-- Returns the entry ids, or -1 when refused.
local bound, n, f = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local depth = tonumber(redis.call('GET', KEYS[2]) or '0')
if depth + n > bound then
  return -1
end
redis.call('INCRBY', KEYS[2], n)
local ids = {}
local at = 4
for k = 1, n do
  ids[k] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, at, at + f - 1))
  at = at + f
end
return ids
