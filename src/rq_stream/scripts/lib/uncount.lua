-- uncount(jk[, state, env]): the attempt counted for a job did not run (its worker handed it
-- back, or deferred it): take it back, and mark the job `state` (default queued), keeping its
-- envelope in field 'e' when given (a job waiting in the delayed set).
local function uncount(jk, state, env)
  redis.call('HINCRBY', jk, 'a', -1)
  redis.call('HINCRBY', jk, 'ta', -1)
  if env then
    redis.call('HSET', jk, 's', state, 'e', env)
  else
    redis.call('HSET', jk, 's', state or 'queued')
  end
end

-- uncount_if_mine(jk, consumer): uncount, if the record says `consumer` started the attempt
-- (a job returned without the runtime knowing its attempt: a start whose reply was lost).
local function uncount_if_mine(jk, consumer)
  local h = redis.call('HMGET', jk, 's', 'w')
  if h[1] == 'running' and h[2] == consumer then uncount(jk) end
end
