-- Acknowledge entries and take them off the depth counter, once: a second ack of the same
-- entry (a zombie worker's late ack) acknowledges nothing and subtracts nothing.
-- KEYS[1] stream, KEYS[2] depth counter; ARGV[1] group, ARGV[2..] entry ids
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
if acked > 0 then
  redis.call('DECRBY', KEYS[2], acked)
end
return acked
