-- Ownership on the streams backend: a job is this consumer's while its entry (the job's `ref`,
-- an entry id) is pending for it in the group of the stream (`owner`). Same functions as
-- lib/own_list, same shape.
-- release(owner, group, ref): end this consumer's ownership (XACK, then the entry is deleted);
-- true if it still owned the job.
local function release(stream, group, eid)
  if redis.call('XACK', stream, group, eid) ~= 1 then return false end
  redis.call('XDEL', stream, eid)
  return true
end

-- job_of(fields): a backlog entry's job id (nil if it names none) and payload ('' if none).
local function job_of(f)
  local id, env = nil, ''
  for j = 1, #f, 2 do
    if f[j] == 'j' then id = f[j + 1] elseif f[j] == 'd' then env = f[j + 1] end
  end
  return id, env
end

-- envelope(owner, ref): the entry's payload ('' if it has none); nil when the entry is gone.
local function envelope(stream, eid)
  local entry = redis.call('XRANGE', stream, eid, eid)[1]
  if not entry then return nil end
  local _, env = job_of(entry[2])
  return env
end

-- requeue(backlog, id, env, front): add a job to the stream (it has one end: `front` is
-- ignored); an entry that named no job (id '') names none again.
local function requeue(stream, id, env, _)
  if id ~= '' then
    redis.call('XADD', stream, '*', 'j', id, 'd', env)
  else
    redis.call('XADD', stream, '*', 'd', env)
  end
end

-- pending_to(stream, group, eid, consumer): whether the entry is pending for `consumer`.
local function pending_to(stream, group, eid, consumer)
  local p = redis.call('XPENDING', stream, group, eid, eid, 1)
  return p[1] ~= nil and p[1][2] == consumer
end
