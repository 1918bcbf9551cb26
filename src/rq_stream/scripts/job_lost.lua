-- job_lost: a live worker found it no longer owns running jobs (their lease expired while it
-- still ran them); count it on each job so a later WorkerLost dead letter can say so.
-- KEYS[1] job key prefix   (hash per job)
-- ARGV[1..] job ids
-- Finished or vanished jobs are left alone (no record is created). Returns how many were marked.
local marked = 0
for i = 1, #ARGV do
  local jk = KEYS[1] .. ARGV[i]
  local s = redis.call('HGET', jk, 's')
  if s and s ~= 'succeeded' and s ~= 'failed' then
    redis.call('HINCRBY', jk, 'ls', 1)
    marked = marked + 1
  end
end
return marked
