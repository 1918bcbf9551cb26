#!lua flags=no-writes
-- list_counts: the lengths `info` and burst mode read, in one atomic step (a job moving between
-- the backlog and a processing list is counted once). A read-only script, so it also runs at
-- maxmemory, where Redis refuses every command queued in a MULTI.
-- KEYS[1] pending  (list)       the queue's backlog
-- KEYS[2] delayed  (sorted set) delayed jobs
-- KEYS[3] dead     (stream)     dead letters
-- KEYS[4...] proc  (list)       the processing list of each consumer in the consumer set
-- Returns {backlog, delayed, dead, in flight}.
local in_flight = 0
for i = 4, #KEYS do in_flight = in_flight + redis.call('LLEN', KEYS[i]) end
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('XLEN', KEYS[3]),
  in_flight}
