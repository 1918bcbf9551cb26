#!lua flags=allow-oom
-- stream_renew: reset the idle time of entries this consumer still owns (lease renewal).
-- KEYS[1] stream   (stream) the queue's backlog
-- ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids
-- Returns the ids this consumer no longer owns (reclaimed by another worker, or acked).
-- @include own_stream
local lost = {}
for i = 3, #ARGV do
  if pending_to(KEYS[1], ARGV[1], ARGV[i], ARGV[2]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
