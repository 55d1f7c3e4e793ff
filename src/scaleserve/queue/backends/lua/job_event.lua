-- Shared by the job scripts (prepended to them).

-- The hashes of the jobs this script changed, for announce_changes.
local changed_jobs = {}

-- Append a status change to a job's events.
local function job_event(job, events, status)
  local seq = redis.call('HINCRBY', job, 'seq', 1)
  redis.call('XADD', events, '0-' .. seq, 's', status)
  changed_jobs[#changed_jobs + 1] = job
end

-- One entry on the changes feed naming every job this script changed (their hashes, space
-- separated), so that gateways wake whoever waits on them. Called last by each script.
local function announce_changes(feed)
  if #changed_jobs > 0 then
    redis.call('XADD', feed, 'MAXLEN', '~', 10000, '*', 'jobs', table.concat(changed_jobs, ' '))
  end
end

-- The most entries kept on the stream of ended jobs: a bound on Redis's memory should the
-- history copiers stop reading (entries trimmed unread are not copied to the history).
local ENDED_MAXLEN = 100000

-- End a job: final status, times, retention on all its keys, and its webhook if it has one;
-- the job goes on the stream of ended jobs, for the history copiers.
local function end_job(job, outputs, events, webhooks, ended, status, now, ttl, job_id)
  redis.call('HSET', job, 'status', status, 'finished_at', now, 'expires_at', now + ttl)
  job_event(job, events, status)
  redis.call('EXPIRE', job, math.ceil(ttl))
  redis.call('EXPIRE', outputs, math.ceil(ttl))
  redis.call('EXPIRE', events, math.ceil(ttl))
  if redis.call('HGET', job, 'webhook_url') then
    redis.call('XADD', webhooks, '*', 'job', job_id)
  end
  redis.call('XADD', ended, 'MAXLEN', '~', ENDED_MAXLEN, '*', 'job', job_id)
end

-- The UTC day (YYYY-MM-DD) of a unix time, as usage is counted (Lua in Redis has no os.date).
-- Howard Hinnant's civil_from_days, for days since 1970-01-01.
local function utc_day(unix_s)
  local z = math.floor(unix_s / 86400) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02d', year, month, day)
end
