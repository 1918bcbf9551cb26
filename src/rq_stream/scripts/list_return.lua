#!lua flags=allow-oom
-- list_return: put back jobs found in this consumer's processing list that the worker never
-- received or started (a move or start whose reply was lost, or cut off by a stop). They go
-- to the right end of the backlog. An attempt this consumer counted is not charged.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] pending  (list)   the queue's backlog
-- KEYS[3] job key prefix    (hash per job)
-- ARGV[1] consumer, ARGV[2..] groups of 2: envelope, job id ('' when it has none)
-- Returns the number of jobs returned.
-- @include own_list
-- @include uncount
local n = 0
for i = 2, #ARGV, 2 do
  local env, id = ARGV[i], ARGV[i + 1]
  if release(KEYS[1], nil, env) then
    requeue(KEYS[2], id, env, true)
    if id ~= '' then uncount_if_mine(KEYS[3] .. id, ARGV[1]) end
    n = n + 1
  end
end
return n
