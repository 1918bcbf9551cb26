#!lua flags=allow-oom
-- stream_hand_back: give unfinished jobs back to the queue at once (graceful shutdown).
-- The interrupted attempt is not counted: the job did not fail, its worker stopped.
-- KEYS[1] stream   (stream) the queue's backlog
-- KEYS[2] job key prefix    (hash per job)
-- ARGV[1] group, then groups of 4: entry_id, job_id, attempt, envelope
-- Returns the number of jobs handed back.
-- @include now
-- @include own_stream
-- @include uncount
-- @include mine
-- @include cancelled
-- @include hand_back
local n = 0
for i = 2, #ARGV, 4 do
  local eid, id, attempt, env = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  n = n + hand_back_job(KEYS[1], ARGV[1], eid, KEYS[1], KEYS[2] .. id, id, attempt, env)
end
return n
