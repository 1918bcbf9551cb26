-- now_ms(): the server's clock in milliseconds (never the client's).
pcall(redis.replicate_commands)
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
