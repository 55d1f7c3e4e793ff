-- Hand entries a stopping worker holds back to the stream, for any worker to read at once
-- (not after the idle timeout of a reclaim): each is added again as a new entry and the
-- held one acknowledged and deleted, in one step. The depth counter is unchanged: the items
-- are still queued.
-- KEYS[1] the stream; ARGV[1] the consumer group; ARGV[2..] the held entry ids.
local handed = 0
for i = 2, #ARGV do
  local found = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
  if #found > 0 then
    redis.call('XADD', KEYS[1], '*', unpack(found[1][2]))
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    handed = handed + 1
  end
end
return handed
