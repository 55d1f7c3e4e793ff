-- Store feature values of several entities, each only if it is not older than the value
-- stored (the event time is the first 8 bytes of a value: a big-endian double).
-- KEYS: one hash per entity. ARGV, per key in order: the row's event time, the number of
-- features n, then n pairs of feature name and encoded value.
local at = 1
for _, key in ipairs(KEYS) do
    local event_ts = tonumber(ARGV[at])
    local n = tonumber(ARGV[at + 1])
    at = at + 2
    for i = 0, n - 1 do
        local feature = ARGV[at + 2 * i]
        local old = redis.call('HGET', key, feature)
        if not old or struct.unpack('>d', old) <= event_ts then
            redis.call('HSET', key, feature, ARGV[at + 2 * i + 1])
        end
    end
    at = at + 2 * n
end
return #KEYS
