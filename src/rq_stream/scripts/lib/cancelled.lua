-- A job cancelled while a worker held it (job_cancel.lua set 's' to 'cancelled' and 'cx' to how
-- long its record is kept, and told its result waiters) ends where that worker settles it,
-- whatever the worker meant to do: it is never run, retried, deferred, handed back or
-- dead-lettered.
-- end_cancelled(jk): the caller has released the job's ownership (or it had none: it was
-- delayed): keep its record 'cx' seconds (0: drop it now).
local function end_cancelled(jk)
  local ttl = tonumber(redis.call('HGET', jk, 'cx') or '3600')
  if ttl > 0 then
    redis.call('EXPIRE', jk, ttl)
  else
    redis.call('DEL', jk)
  end
end

-- dropped_if_cancelled(jk): after the ownership check released the job: true if the job was
-- cancelled meanwhile (and has now ended), false to settle it as the caller meant to.
local function dropped_if_cancelled(jk)
  if redis.call('HGET', jk, 's') ~= 'cancelled' then return false end
  end_cancelled(jk)
  return true
end
