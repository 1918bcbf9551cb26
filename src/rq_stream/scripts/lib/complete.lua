-- Settling a job (see lib/mine for the ownership rule): a batch of completions.
-- complete_batch(owner, group, jobs, stats, chan, first, step, at): store the results of a
-- batch of finished jobs, ARGV groups of `step` from `first`; at(i) gives the group's ref,
-- job_id, attempt, result_ttl_s, result. Returns {finished, positions...}: the 0-based
-- position of each job whose result_ttl_s is not an integer from 0 to MAX_SECONDS, left
-- untouched (the worker dead-letters it). A job cancelled meanwhile ends cancelled (finished
-- for the caller, not counted as completed). Needs lib/finish, lib/check, lib/cancelled.
local function complete_batch(owner, group, jobs, stats, chan, first, step, at)
  local now = now_ms()
  local out = {0}
  local done, succeeded = 0, 0
  for i = first, #ARGV, step do
    local ref, id, attempt, raw_ttl, res = at(i)
    local ttl = whole(raw_ttl, 0, MAX_SECONDS)
    if ttl == nil then
      out[#out + 1] = (i - first) / step
    else
      local jk = jobs .. id
      local h = redis.call('HMGET', jk, 'a', 'u', 'wt', 's')
      if h[1] == attempt and release(owner, group, ref) then
        if h[4] == 'cancelled' then  -- cancelled while it ran: its result is not kept
          end_cancelled(jk)
        else
          succeed(jk, id, h, res, ttl, now, chan)
          succeeded = succeeded + 1
        end
        done = done + 1
      end
    end
  end
  count(stats, 'completed', succeeded, now)
  out[1] = done
  return out
end
