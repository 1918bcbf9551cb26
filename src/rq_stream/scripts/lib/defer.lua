-- Settling a job (see lib/mine for the ownership rule): a deferral. Needs lib/mine.
-- defer_job(owner, group, ref, delayed, jk, id, attempt, delay, env): put a started job back
-- into the delayed set without counting the attempt (start counted it: deferral is not an
-- attempt). Returns 1, or 0 if this attempt no longer owned the job. Needs lib/uncount and
-- lib/cancelled (a job cancelled meanwhile ends there, returning 1).
local function defer_job(owner, group, ref, delayed, jk, id, attempt, delay, env)
  local now = now_ms()
  if not mine(owner, group, ref, jk, attempt) then return 0 end
  if dropped_if_cancelled(jk) then return 1 end  -- cancelled meanwhile: not put back
  redis.call('ZADD', delayed, now + math.max(0, delay), id)
  uncount(jk, 'scheduled', env)
  return 1
end
