-- Record one item's outcome; the first writer wins, a late writer changes nothing.
-- KEYS[1] job, KEYS[2] outputs, KEYS[3] events, KEYS[4] webhooks
-- ARGV[1] item index, ARGV[2] 'ok' | 'failed' | 'expired', ARGV[3] output JSON or error
-- message, ARGV[4] error code, ARGV[5] now, ARGV[6] retention seconds, ARGV[7] job id
-- Returns 1 when recorded, 2 when it ended the job, 0 when ignored.
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then
  return 0
end
local now, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
if ARGV[2] ~= 'ok' then
  redis.call('HSET', KEYS[1], 'error_code', ARGV[4], 'error', ARGV[3])
  end_job(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[2], now, ttl, ARGV[7])
  return 2
end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then
  return 0
end
local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
if done < n then
  return 1
end
local parts = redis.call('HMGET', KEYS[2], unpack((function()
  local idx = {}
  for k = 0, n - 1 do idx[k + 1] = tostring(k) end
  return idx
end)()))
redis.call('HSET', KEYS[1], 'outputs', '[' .. table.concat(parts, ',') .. ']')
end_job(KEYS[1], KEYS[2], KEYS[3], KEYS[4], 'succeeded', now, ttl, ARGV[7])
return 2
