#!lua flags=allow-oom
-- list_return: put back jobs found in this consumer's processing list that the worker never
-- received (a blocking move whose reply was lost). They go to the right end of the backlog.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] pending  (list)   the queue's backlog
-- ARGV    envelopes
-- Returns the number of jobs returned.
local n = 0
for _, env in ipairs(ARGV) do
  if redis.call('LREM', KEYS[1], -1, env) == 1 then
    redis.call('RPUSH', KEYS[2], env)
    n = n + 1
  end
end
return n
