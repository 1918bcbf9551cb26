-- start_entry(...): count one attempt, atomically, for a job delivered to `consumer` (`ref`:
-- its entry id or envelope, owned through `owner`/`group` as in lib/own_stream, lib/own_list).
-- Returns the attempt number to run (>= 1); 0 if the job had already finished or was cancelled
-- (its ownership is released: do not run it) or is gone (no record, no entry: a failover lost
-- its enqueue; its delivery came from the old master); -1 if it was started max_attempts times
-- already without finishing (it crashed its workers: released and dead-lettered); -3 (unless
-- `alone`) if this would be its last attempt and its previous one ended with its worker dying
-- (the record still says running): nothing is changed, the worker runs it alone
-- (Worker._isolation_loop); -4 if it had never started and its deadline 'x' has passed
-- (lib/expire: it ends expired).
-- Needs lib/own_stream or lib/own_list, lib/finish (bury), lib/worker_lost, lib/cancelled and
-- lib/expire. `h` is the job's HMGET s a ta fs x, when the caller has read it. `dindex`: the
-- dead-letter index (hash, QueueKeys.dead_index).
local function start_entry(owner, group, ref, dead, jk, consumer, chan, queue, id, max, ttl, now,
                           h, alone, dindex)
  h = h or redis.call('HMGET', jk, 's', 'a', 'ta', 'fs', 'x')
  if not h[1] and not envelope(owner, ref) then
    return 0  -- neither record nor entry: lost with a failed-over master (async replication)
  end
  if h[1] == 'succeeded' or h[1] == 'failed' or h[1] == 'expired' then
    release(owner, group, ref)
    return 0
  end
  if h[1] == 'cancelled' then  -- cancelled while queued (or running, its worker gone): dropped
    if release(owner, group, ref) then end_cancelled(jk) end
    return 0
  end
  local a = tonumber(h[2] or '0') + 1
  if h[5] and a == 1 and now >= tonumber(h[5]) then
    return expire_job(owner, group, ref, jk, id, chan, now, ttl, tonumber(h[5]))
  end
  if a == max and h[1] == 'running' and not alone then return -3 end
  if a <= max then
    redis.call('HSET', jk, 's', 'running', 'w', consumer, 'st', now, 'a', a,
      'ta', tonumber(h[3] or '0') + 1, 'fs', h[4] or now)
    return a
  end
  -- This start does not happen: the attempts recorded are the ones that did.
  local env = envelope(owner, ref) or ''
  if release(owner, group, ref) then
    bury(dead, jk, chan, id, env, 'WorkerLost', worker_lost_message(jk, a - 1, max),
      '', consumer, now, ttl, queue, dindex)
  end
  return -1
end
