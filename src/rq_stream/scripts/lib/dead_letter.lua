-- Settling a job (see lib/mine for the ownership rule): a dead letter.
-- dead_letter_job(owner, group, ref, dead, jk, stats, chan, queue, id, attempt, env, etype,
-- emsg, tb, worker, ttl, dindex): move a job to the dead-letter stream with its error (attempt
-- '': never started, only the release is checked), naming it in the dead-letter index `dindex`.
-- Returns 1, or 0 if this attempt no longer owned the job. Needs lib/finish, lib/cancelled.
local function dead_letter_job(owner, group, ref, dead, jk, stats, chan, queue, id, attempt,
                               env, etype, emsg, tb, worker, ttl, dindex)
  local now = now_ms()
  if attempt ~= '' and redis.call('HGET', jk, 'a') ~= attempt then return 0 end
  if not release(owner, group, ref) then return 0 end
  if attempt ~= '' and dropped_if_cancelled(jk) then return 1 end  -- not dead-lettered
  bury(dead, jk, chan, id, env, etype, emsg, tb, worker, now, ttl, queue, dindex)
  count(stats, 'dead', 1, now)
  return 1
end
