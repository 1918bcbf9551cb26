-- How a worker settles a job it owns, the same on both backends: each function takes the job's
-- owner key, group and ref (lib/own_stream: stream, group, entry id; lib/own_list: processing
-- list, nil, envelope) and acts only if this attempt still owns the job: the job's attempt
-- counter is unchanged and release() ended the ownership, so a re-sent script, or a worker
-- that stalled while its job went to another, acts at most once.
-- Needs lib/now, lib/own_stream or lib/own_list, and per function the libs it names.

-- mine(owner, group, ref, jk, attempt): the ownership check, releasing the job when it holds.
local function mine(owner, group, ref, jk, attempt)
  return redis.call('HGET', jk, 'a') == attempt and release(owner, group, ref)
end

-- complete_batch(owner, group, jobs, stats, chan, first, step, at): store the results of a
-- batch of finished jobs, ARGV groups of `step` from `first`; at(i) gives the group's ref,
-- job_id, attempt, result_ttl_s, result. Returns {finished, positions...}: the 0-based
-- position of each job whose result_ttl_s is not an integer from 0 to MAX_SECONDS, left
-- untouched (the worker dead-letters it). Needs lib/finish and lib/check.
local function complete_batch(owner, group, jobs, stats, chan, first, step, at)
  local now = now_ms()
  local out = {0}
  local done = 0
  for i = first, #ARGV, step do
    local ref, id, attempt, raw_ttl, res = at(i)
    local ttl = whole(raw_ttl, 0, MAX_SECONDS)
    if ttl == nil then
      out[#out + 1] = (i - first) / step
    else
      local jk = jobs .. id
      local h = redis.call('HMGET', jk, 'a', 'u', 'wt')
      if h[1] == attempt and release(owner, group, ref) then
        succeed(jk, id, h, res, ttl, now, chan)
        done = done + 1
      end
    end
  end
  count(stats, 'completed', done, now)
  out[1] = done
  return out
end

-- retry_job(owner, group, ref, backlog, delayed, jk, id, attempt, delay, env, err, stats): end a
-- failed attempt and schedule the job again (delay ms checked by the caller, >= 0). Returns 1,
-- or 0 if this attempt no longer owned the job. Needs lib/finish.
local function retry_job(owner, group, ref, backlog, delayed, jk, id, attempt, delay, env, err,
                         stats)
  local now = now_ms()
  if not mine(owner, group, ref, jk, attempt) then return 0 end
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

-- defer_job(owner, group, ref, delayed, jk, id, attempt, delay, env): put a started job back
-- into the delayed set without counting the attempt (start counted it: deferral is not an
-- attempt). Returns 1, or 0 if this attempt no longer owned the job. Needs lib/uncount.
local function defer_job(owner, group, ref, delayed, jk, id, attempt, delay, env)
  local now = now_ms()
  if not mine(owner, group, ref, jk, attempt) then return 0 end
  redis.call('ZADD', delayed, now + math.max(0, delay), id)
  uncount(jk, 'scheduled', env)
  return 1
end

-- hand_back_job(owner, group, ref, backlog, jk, id, attempt, env): give an unfinished job back
-- to the queue, next to be taken, without counting the interrupted attempt. Returns 1, or 0 if
-- this attempt no longer owned the job. Needs lib/uncount.
local function hand_back_job(owner, group, ref, backlog, jk, id, attempt, env)
  if not mine(owner, group, ref, jk, attempt) then return 0 end
  requeue(backlog, id, env, true)
  uncount(jk)
  return 1
end

-- dead_letter_job(owner, group, ref, dead, jk, stats, chan, queue, id, attempt, env, etype,
-- emsg, tb, worker, ttl, dindex): move a job to the dead-letter stream with its error (attempt
-- '': never started, only the release is checked), naming it in the dead-letter index `dindex`.
-- Returns 1, or 0 if this attempt no longer owned the job. Needs lib/finish.
local function dead_letter_job(owner, group, ref, dead, jk, stats, chan, queue, id, attempt,
                               env, etype, emsg, tb, worker, ttl, dindex)
  local now = now_ms()
  if attempt ~= '' and redis.call('HGET', jk, 'a') ~= attempt then return 0 end
  if not release(owner, group, ref) then return 0 end
  bury(dead, jk, chan, id, env, etype, emsg, tb, worker, now, ttl, queue, dindex)
  count(stats, 'dead', 1, now)
  return 1
end
