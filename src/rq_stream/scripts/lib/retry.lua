-- Settling a job (see lib/mine for the ownership rule): a retry. Needs lib/mine.
-- retry_job(owner, group, ref, backlog, delayed, jk, id, attempt, delay, env, err, stats): end a
-- failed attempt and schedule the job again (delay ms checked by the caller, >= 0). Returns 1,
-- or 0 if this attempt no longer owned the job. Needs lib/finish and lib/cancelled.
local function retry_job(owner, group, ref, backlog, delayed, jk, id, attempt, delay, env, err,
                         stats)
  local now = now_ms()
  if not mine(owner, group, ref, jk, attempt) then return 0 end
  if dropped_if_cancelled(jk) then return 1 end  -- cancelled while it ran: not retried
  if delay > 0 then
    redis.call('ZADD', delayed, now + delay, id)
    redis.call('HSET', jk, 's', 'retrying', 'e', env, 'err', err)
  else
    requeue(backlog, id, env, false)
    redis.call('HSET', jk, 's', 'queued', 'err', err)
  end
  count(stats, 'retried', 1, now)
  return 1
end
