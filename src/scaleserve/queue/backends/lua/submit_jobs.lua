-- Record jobs and queue their items in one step: every job is recorded and queued, or none
-- is (a model's bound would be passed).
-- KEYS: for each of the m models: its stream, its depth counter; then for each job: its
-- hash, its events.
-- ARGV[1] m, ARGV[2..1+m] each model's bound; then for each job: its model's number
-- (1..m), its item count n, values per item f, record value count r, then r record
-- field/value pairs and n * f item field/value pairs.
-- Returns 0, the number of the first model whose bound refuses the jobs, or -1 when a job
-- of one of these ids is recorded already (an idempotent submission sent again: its record
-- or its events, which may outlive the record by a moment).
local m = tonumber(ARGV[1])
for k = 2 * m + 1, #KEYS do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    return -1
  end
end
local wanted, jobs = {}, {}
for k = 1, m do wanted[k] = 0 end
local at = 2 + m
while at <= #ARGV do
  local model, n, f, r = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  jobs[#jobs + 1] = {model, n, f, r, at + 4}
  wanted[model] = wanted[model] + n
  at = at + 4 + r + n * f
end
for k = 1, m do
  local depth = tonumber(redis.call('GET', KEYS[2 * k]) or '0')
  if depth + wanted[k] > tonumber(ARGV[1 + k]) then
    return k
  end
end
for k = 1, m do
  redis.call('INCRBY', KEYS[2 * k], wanted[k])
end
for j, job in ipairs(jobs) do
  local model, n, f, r, from = job[1], job[2], job[3], job[4], job[5]
  local record, events = KEYS[2 * m + 2 * j - 1], KEYS[2 * m + 2 * j]
  redis.call('HSET', record, 'seq', 1, 'done', 0, unpack(ARGV, from, from + r - 1))
  redis.call('XADD', events, '0-1', 's', 'queued')
  local item = from + r
  for _ = 1, n do
    redis.call('XADD', KEYS[2 * model - 1], '*', unpack(ARGV, item, item + f - 1))
    item = item + f
  end
end
return 0
