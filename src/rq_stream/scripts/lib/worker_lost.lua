-- worker_lost_message(job_key, starts, max): why a job started `starts` times never finished.
-- Field 'ls' counts the attempts a live worker saw it had lost (job_lost.lua: its lease
-- expired while it still ran the job, so another worker took it over).
local function worker_lost_message(jk, starts, max)
  local head = 'the job was started ' .. starts .. ' times and '
  local tail = ' (max_attempts=' .. max .. '; its last attempt ran alone in its worker)'
  local stalled = tonumber(redis.call('HGET', jk, 'ls') or '0')
  if stalled > 0 then
    return head .. 'its worker died or stopped renewing its lease each time' .. tail .. '; '
      .. stalled .. ' attempt(s) were lost by a worker that was still alive: a call holding '
      .. 'the GIL or blocking the event loop longer than lease_s? (use process=True for '
      .. 'CPU-bound tasks)'
  end
  return head .. 'its worker died or lost it each time' .. tail
    .. '; it may crash its worker (segfault, os._exit, OOM kill)'
end
