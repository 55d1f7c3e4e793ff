-- Shared by the job scripts (prepended to them): append a status change to a job's events.
local function job_event(job, events, status)
  local seq = redis.call('HINCRBY', job, 'seq', 1)
  redis.call('XADD', events, '0-' .. seq, 's', status)
end

-- End a job: final status, times, retention on all its keys, and its webhook if it has one.
local function end_job(job, outputs, events, webhooks, status, now, ttl, job_id)
  redis.call('HSET', job, 'status', status, 'finished_at', now, 'expires_at', now + ttl)
  job_event(job, events, status)
  redis.call('EXPIRE', job, math.ceil(ttl))
  redis.call('EXPIRE', outputs, math.ceil(ttl))
  redis.call('EXPIRE', events, math.ceil(ttl))
  if redis.call('HGET', job, 'webhook_url') then
    redis.call('XADD', webhooks, '*', 'job', job_id)
  end
end
