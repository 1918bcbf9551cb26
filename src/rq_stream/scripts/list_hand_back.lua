#!lua flags=allow-oom
-- list_hand_back: give unfinished jobs back to the queue at once (graceful shutdown). They go
-- to the right end of the backlog, so they are the next jobs taken. The interrupted attempt is
-- not counted: the job did not fail, its worker stopped.
-- KEYS[1] proc     (list)   this consumer's processing list
-- KEYS[2] pending  (list)   the queue's backlog
-- KEYS[3] job key prefix    (hash per job)
-- ARGV    groups of 3: job_id, attempt, envelope (oldest first: it is pushed last, taken first)
-- Returns the number of jobs handed back.
-- @include now
-- @include own_list
-- @include uncount
-- @include mine
-- @include cancelled
-- @include hand_back
local n = 0
for i = #ARGV - 2, 1, -3 do
  local id, attempt, env = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  n = n + hand_back_job(KEYS[1], nil, env, KEYS[2], KEYS[3] .. id, id, attempt, env)
end
return n
