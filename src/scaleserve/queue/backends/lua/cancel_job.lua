-- queued -> cancelled for the job's own tenant. Its queued items stay in the stream; workers
-- skip them (start_job answers 'cancelled').
-- KEYS[1] job, KEYS[2] outputs, KEYS[3] events, KEYS[4] webhooks, KEYS[5] the changes feed,
-- KEYS[6] ended jobs
-- ARGV[1] tenant, ARGV[2] now, ARGV[3] retention seconds, ARGV[4] job id
-- Returns 1 when cancelled, 0 when the job is not queued, -1 when it does not exist for the tenant.
if redis.call('HGET', KEYS[1], 'tenant') ~= ARGV[1] then
  return -1
end
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then
  return 0
end
end_job(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[6], 'cancelled', tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
announce_changes(KEYS[5])
return 1
