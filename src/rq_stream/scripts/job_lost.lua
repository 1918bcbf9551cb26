#!lua flags=allow-oom
-- job_lost: a live worker found it no longer owns running jobs (their lease expired while it
-- still ran them); count it on each job so a later WorkerLost dead letter can say so.
-- KEYS[1] job key prefix   (hash per job)
-- ARGV[1..] pairs: job id, the attempt that was lost
-- Each attempt counts once however often it is reported (field 'la': the last one counted).
-- Finished or vanished jobs are left alone (no record is created). Returns how many were marked.
local marked = 0
for i = 1, #ARGV, 2 do
  local jk = KEYS[1] .. ARGV[i]
  local h = redis.call('HMGET', jk, 's', 'la')
  if h[1] and h[1] ~= 'succeeded' and h[1] ~= 'failed' and h[2] ~= ARGV[i + 1] then
    redis.call('HSET', jk, 'la', ARGV[i + 1])
    redis.call('HINCRBY', jk, 'ls', 1)
    marked = marked + 1
  end
end
return marked
