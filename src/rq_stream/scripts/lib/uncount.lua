-- uncount(jk): the attempt counted for a job did not run (its worker handed it back): take it
-- back, and mark the job queued again.
local function uncount(jk)
  redis.call('HINCRBY', jk, 'a', -1)
  redis.call('HINCRBY', jk, 'ta', -1)
  redis.call('HSET', jk, 's', 'queued')
end

-- uncount_if_mine(jk, consumer): uncount, if the record says `consumer` started the attempt
-- (a job returned without the runtime knowing its attempt: a start whose reply was lost).
local function uncount_if_mine(jk, consumer)
  local h = redis.call('HMGET', jk, 's', 'w')
  if h[1] == 'running' and h[2] == consumer then uncount(jk) end
end
