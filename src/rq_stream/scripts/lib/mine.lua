-- How a worker settles a job it owns, the same on both backends: each function takes the job's
-- owner key, group and ref (lib/own_stream: stream, group, entry id; lib/own_list: processing
-- list, nil, envelope) and acts only if this attempt still owns the job: the job's attempt
-- counter is unchanged and release() ended the ownership, so a re-sent script, or a worker
-- that stalled while its job went to another, acts at most once.
-- One lib file per operation (lib/complete, retry, defer, hand_back, dead_letter), so each
-- script carries only its own (the script cache counts toward maxmemory). Each needs lib/now,
-- lib/own_stream or lib/own_list and the libs it names; retry, defer, hand_back need this file.

-- mine(owner, group, ref, jk, attempt): the ownership check, releasing the job when it holds.
local function mine(owner, group, ref, jk, attempt)
  return redis.call('HGET', jk, 'a') == attempt and release(owner, group, ref)
end
