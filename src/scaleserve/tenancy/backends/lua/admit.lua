-- Admit one request of a tenant, all or nothing: daily quotas, then token buckets, then the
-- concurrency cap; the arithmetic is that of scaleserve/tenancy/limits.py. Time is Redis's
-- own (TIME), so every gateway sees the same buckets, the same day and the same leases.
-- KEYS[1] rate buckets (hash), KEYS[2] leases in flight (sorted set, scored by expiry),
-- KEYS[3..5] daily counts (hash) of the caller's yesterday, today and tomorrow: Redis's
-- clock picks one, so a gateway clock off by less than a day names the right key.
-- ARGV[1] requests/s, ARGV[2] requests burst, ARGV[3] items/s, ARGV[4] items burst,
-- ARGV[5] items, ARGV[6] daily requests, ARGV[7] daily items, ARGV[8] start (Unix s) of
-- the caller's yesterday, ARGV[9] max concurrent, ARGV[10] lease id, ARGV[11] lease seconds.
-- An empty argument is an absent limit; rates are positive (the caller refuses others).
-- Returns {'ok'}, or {limit, seconds until a retry can pass} when refused; a refusal writes
-- nothing but the removal of expired leases. {'clock', ...}: the caller's clock is off.
local DAY, EPSILON, CONCURRENCY_RETRY = 86400, 1e-9, 1

local function opt(i)
  if ARGV[i] == '' then return nil end
  return tonumber(ARGV[i])
end

local function num(x)
  return string.format('%.17g', x)
end

local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local items = tonumber(ARGV[5])

-- daily quotas
local daily_requests, daily_items = opt(6), opt(7)
local day_key, to_midnight
if daily_requests or daily_items then
  local k = math.floor((now - tonumber(ARGV[8])) / DAY)
  if k < 0 or k > 2 then
    return {'clock', num(now)}
  end
  day_key = KEYS[3 + k]
  to_midnight = tonumber(ARGV[8]) + (k + 1) * DAY - now
  local used = redis.call('HMGET', day_key, 'requests', 'items')
  if daily_requests and tonumber(used[1] or '0') + 1 > daily_requests then
    return {'daily_requests', num(to_midnight)}
  end
  if daily_items and tonumber(used[2] or '0') + items > daily_items then
    return {'daily_items', num(to_midnight)}
  end
end

-- token buckets: {field prefix, limit name, rate, capacity, tokens needed}
local buckets = {}
if opt(1) then
  buckets[#buckets + 1] = {'r', 'requests_per_s', opt(1), opt(2), 1}
end
if opt(3) then
  buckets[#buckets + 1] = {'i', 'items_per_s', opt(3), opt(4), items}
end
local longest, refusing = 0, nil
for _, b in ipairs(buckets) do
  local state = redis.call('HMGET', KEYS[1], b[1] .. ':tokens', b[1] .. ':at')
  local tokens = b[4]
  if state[1] then
    tokens = math.min(b[4], tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * b[3])
  end
  b[6] = tokens
  if tokens + EPSILON < b[5] and (b[5] - tokens) / b[3] > longest then
    longest, refusing = (b[5] - tokens) / b[3], b[2]
  end
end
if refusing then
  return {refusing, num(longest)}
end

-- concurrency: leases of crashed gateways expire, so their slots come back
local max_concurrent = opt(9)
if max_concurrent then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= max_concurrent then
    return {'max_concurrent', num(CONCURRENCY_RETRY)}
  end
end

-- admitted: consume. A bucket key expires once every bucket in it is full again.
if day_key then
  redis.call('HINCRBY', day_key, 'requests', 1)
  redis.call('HINCRBY', day_key, 'items', items)
  redis.call('EXPIRE', day_key, math.ceil(to_midnight + DAY))
end
local full_in = 0
for _, b in ipairs(buckets) do
  local left = b[6] - b[5]
  redis.call('HSET', KEYS[1], b[1] .. ':tokens', num(left), b[1] .. ':at', num(now))
  full_in = math.max(full_in, (b[4] - left) / b[3])
end
if #buckets > 0 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(full_in * 1000) + 1000)
end
if max_concurrent then
  local expires = now + tonumber(ARGV[11])
  redis.call('ZADD', KEYS[2], num(expires), ARGV[10])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], math.ceil(tonumber(last[2]) * 1000) + 1000)
end
return {'ok'}
