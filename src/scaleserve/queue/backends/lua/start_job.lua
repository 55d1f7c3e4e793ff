-- A worker is about to run an item of a job. Returns the job's status after the call:
-- 'running' (run it), or anything else (skip it: cancelled, ended, or gone).
-- KEYS[1] job, KEYS[2] events; ARGV[1] now, ARGV[2] deliveries of this item so far
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'gone'
end
if status == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1], 'attempts', ARGV[2])
  job_event(KEYS[1], KEYS[2], 'running')
  return 'running'
end
if status == 'running' and tonumber(ARGV[2]) > tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') then
  redis.call('HSET', KEYS[1], 'attempts', ARGV[2])
end
return status
