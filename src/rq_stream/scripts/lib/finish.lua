-- Shared by the scripts that end a job for good.
-- count(stats, field, n): bump a queue counter and its per-minute bucket (kept for 10 minutes).
local function count(stats, field, n, now)
  if n <= 0 then return end
  local minute = math.floor(now / 60000)
  redis.call('HINCRBY', stats, field, n)
  redis.call('HINCRBY', stats, field .. ':' .. minute, n)
  redis.call('HDEL', stats, field .. ':' .. (minute - 10))
end

-- expire_or_delete(job_key, ttl_s): keep a finished job's record for ttl_s seconds (0 = drop it).
-- ttl_s is a number the script checked (lib/check `whole`/`need`) before its first write: an
-- EXPIRE that fails here would leave the job's record written but the script's reply an error.
local function expire_or_delete(jk, ttl)
  if ttl > 0 then
    redis.call('EXPIRE', jk, ttl)
  else
    redis.call('DEL', jk)
  end
end

-- release_unique(job_key, job_id[, u]): a unique job ended; free its unique key (named in the
-- job's field 'u' by enqueue.lua, same hash tag as the job) unless it already marks a newer job.
-- A caller that has read field 'u' already passes it (false: the job is not unique).
local function release_unique(jk, job_id, u)
  if u == nil then u = redis.call('HGET', jk, 'u') end
  if u and redis.call('GET', u) == job_id then redis.call('DEL', u) end
end

-- succeed(jk, job_id, h, result, ttl, now, chan): record a finished job's result, the caller
-- having acked it; `h` is its HMGET a u wt (wt: someone awaits it, see job_watch.lua).
local function succeed(jk, id, h, res, ttl, now, chan)
  release_unique(jk, id, h[2])
  redis.call('HSET', jk, 's', 'succeeded', 'r', res, 'ft', now)
  expire_or_delete(jk, ttl)
  if h[3] then redis.call('PUBLISH', chan .. id, 'S' .. res) end
end

-- bury(...): write one dead letter and mark the job failed; the caller has already XACKed.
-- The job's result waiters are told through the job's channel ('F' + error payload).
-- `index` (hash: job id -> dead-letter entry id) then names this entry for the job.
local function bury(dead, jk, chan, job_id, env, etype, emsg, tb, worker, now, ttl, queue_field,
                    index)
  local attempts = 0
  local first = now
  if job_id ~= '' then
    attempts = tonumber(redis.call('HGET', jk, 'ta') or '0')
    first = tonumber(redis.call('HGET', jk, 'fs') or redis.call('HGET', jk, 't') or now)
  end
  local did = redis.call('XADD', dead, '*', 'd', env, 'job', job_id, 'etype', etype, 'emsg', emsg,
    'tb', tb, 'attempts', attempts, 'first_ms', first, 'last_ms', now, 'worker', worker,
    'queue', queue_field)
  if job_id ~= '' then
    redis.call('HSET', index, job_id, did)
    release_unique(jk, job_id)
    local err = cmsgpack.pack({type = etype, message = emsg, traceback = tb})
    redis.call('HSET', jk, 's', 'failed', 'err', err, 'ft', now)
    redis.call('HDEL', jk, 'e')
    expire_or_delete(jk, ttl)
    redis.call('PUBLISH', chan .. job_id, 'F' .. err)
  end
end
