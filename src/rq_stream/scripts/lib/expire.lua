-- expire_job(owner, group, ref, jk, id, chan, now, ttl, deadline): a job taken after its
-- deadline (field 'x', from expires_s / expires_at) before any attempt of it started: end it
-- `expired` without running it (its entry released, its unique key freed, the reason in 'err',
-- its waiters told on its done channel with 'X' + the reason). Returns -4, or 0 if this
-- consumer no longer owned it. Needs lib/own_stream or lib/own_list and lib/finish.
local function expire_job(owner, group, ref, jk, id, chan, now, ttl, deadline)
  if not release(owner, group, ref) then return 0 end
  release_unique(jk, id)
  local err = cmsgpack.pack({type = 'JobExpired', message = 'not started before its deadline '
    .. '(expires_s / expires_at): the first worker to take it came ' .. (now - deadline)
    .. ' ms too late', traceback = ''})
  redis.call('HSET', jk, 's', 'expired', 'err', err, 'ft', now)
  redis.call('HDEL', jk, 'e')
  expire_or_delete(jk, ttl)
  redis.call('PUBLISH', chan .. id, 'X' .. err)
  return -4
end
