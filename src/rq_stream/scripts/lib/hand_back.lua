-- Settling a job (see lib/mine for the ownership rule): a hand back. Needs lib/mine.
-- hand_back_job(owner, group, ref, backlog, jk, id, attempt, env): give an unfinished job back
-- to the queue, next to be taken, without counting the interrupted attempt. Returns 1, or 0 if
-- this attempt no longer owned the job. Needs lib/uncount and lib/cancelled (a job cancelled
-- meanwhile ends there, returning 1).
local function hand_back_job(owner, group, ref, backlog, jk, id, attempt, env)
  if not mine(owner, group, ref, jk, attempt) then return 0 end
  if dropped_if_cancelled(jk) then return 1 end  -- cancelled meanwhile: not put back
  requeue(backlog, id, env, true)
  uncount(jk)
  return 1
end
