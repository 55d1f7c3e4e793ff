-- The end of a worker's batch, in one step: record the outcome of each job item (the first
-- writer wins; a late writer changes nothing), add the compute seconds of the outcomes
-- recorded to their tenants' usage, then acknowledge every entry of the batch. An entry is
-- therefore never acknowledged without its outcome recorded.
-- KEYS[1] stream, KEYS[2] depth counter, KEYS[3] webhooks, KEYS[4] the changes feed,
-- KEYS[5] ended jobs, KEYS[6..5+t] the usage hashes of t tenants, then for each of the n
-- job items: its job's hash, outputs, events
-- ARGV[1] group, ARGV[2] now, ARGV[3] retention seconds, ARGV[4] model, ARGV[5] t,
-- ARGV[6] n, then for each job item 7 values: item index, 'ok' | 'failed' | 'expired',
-- output JSON or error message, error code, job id, compute seconds, tenant number (0:
-- none, else 1..t); then the ids of the entries to acknowledge.
-- Returns the number of entries acknowledged.
local now, ttl, model = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local t, n = tonumber(ARGV[5]), tonumber(ARGV[6])

-- Returns true when this outcome is the one recorded for the item.
local function record(job, outputs, events, index, kind, value, code, job_id)
  local status = redis.call('HGET', job, 'status')
  if status ~= 'queued' and status ~= 'running' then
    return false
  end
  if kind ~= 'ok' then
    redis.call('HSET', job, 'error_code', code, 'error', value)
    end_job(job, outputs, events, KEYS[3], KEYS[5], kind, now, ttl, job_id)
    return true
  end
  if redis.call('HSETNX', outputs, index, value) == 0 then
    return false
  end
  local done = redis.call('HINCRBY', job, 'done', 1)
  local count = tonumber(redis.call('HGET', job, 'n'))
  if done < count then
    return true
  end
  local indexes = {}
  for k = 0, count - 1 do indexes[k + 1] = tostring(k) end
  local parts = redis.call('HMGET', outputs, unpack(indexes))
  redis.call('HSET', job, 'outputs', '[' .. table.concat(parts, ',') .. ']')
  end_job(job, outputs, events, KEYS[3], KEYS[5], 'succeeded', now, ttl, job_id)
  return true
end

local compute = {}
for k = 1, t do compute[k] = 0 end
for i = 1, n do
  local a, k = 6 + 7 * (i - 1), 5 + t + 3 * (i - 1)
  local recorded = record(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], ARGV[a + 1], ARGV[a + 2],
    ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
  local tenant = tonumber(ARGV[a + 7])
  if recorded and tenant > 0 then
    compute[tenant] = compute[tenant] + tonumber(ARGV[a + 6])
  end
end
if t > 0 then
  local field = model .. '|' .. utc_day(tonumber(redis.call('TIME')[1])) .. '|compute_s'
  for k = 1, t do
    if compute[k] > 0 then
      redis.call('HINCRBYFLOAT', KEYS[5 + k], field, compute[k])
    end
  end
end
announce_changes(KEYS[4])
local first = 7 + 7 * n
if first > #ARGV then
  return 0
end
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, first))
if acked > 0 then
  redis.call('DECRBY', KEYS[2], acked)
end
return acked
