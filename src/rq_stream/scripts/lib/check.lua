-- Argument checks, run before a script writes anything: a Lua script is not rolled back, so a
-- command that fails half-way (EXPIRE with '0.5', a comparison with nil) would leave the
-- writes before it in place.
-- MAX_SECONDS: the largest TTL in seconds, as rq_stream.validate.MAX_SECONDS.
local MAX_SECONDS = 2147483647

-- whole(v, lo, hi): v (an ARGV string) as an integer from lo to hi; nil if it is not one
-- (tonumber accepts 'nan', 'inf', '0x10': NaN fails n == floor(n), inf fails hi).
local function whole(v, lo, hi)
  local n = tonumber(v)
  if n and n == math.floor(n) and n >= lo and n <= hi then return n end
  return nil
end

-- need(v, lo, hi, what): whole(v, lo, hi), or fail the script with an error naming the
-- argument; call it before the first write.
local function need(v, lo, hi, what)
  local n = whole(v, lo, hi)
  if n == nil then
    error({err = 'ERR rq_stream: ' .. what .. ' must be an integer from ' .. lo .. ' to ' .. hi
      .. ', got ' .. tostring(v) .. ' (nothing was written)'})
  end
  return n
end
