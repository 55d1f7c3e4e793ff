-- A worker is about to run items of these jobs (one job per item, a job may repeat).
-- Returns, per item in order, the job's status after the call ('running': run the item;
-- anything else: skip it, as the job was cancelled, has ended or is gone) and its tenant.
-- KEYS[1] the changes feed, then for each item: its job's hash, its job's events
-- ARGV[1] now, ARGV[2] deliveries of these items so far
local out = {}
for j = 1, (#KEYS - 1) / 2 do
  local job, events = KEYS[2 * j], KEYS[2 * j + 1]
  local found = redis.call('HMGET', job, 'status', 'attempts', 'tenant')
  local status = found[1]
  if not status then
    out[j] = {'gone', ''}
  else
    if status == 'queued' then
      redis.call('HSET', job, 'status', 'running', 'started_at', ARGV[1], 'attempts', ARGV[2])
      job_event(job, events, 'running')
      status = 'running'
    elseif status == 'running' and tonumber(ARGV[2]) > tonumber(found[2] or '0') then
      redis.call('HSET', job, 'attempts', ARGV[2])
    end
    out[j] = {status, found[3] or ''}
  end
end
announce_changes(KEYS[1])
return out
