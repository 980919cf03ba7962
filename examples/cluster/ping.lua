-- `ping NODE N`: spawns an echo process on NODE, sends it N numbered pings, and checks
-- the pongs come back in order; then terminates it and waits for its EXIT.
local process = require("process")
local time = require("time")

local function main(node, n)
  n = tonumber(n) or 100
  local echo, err = process.spawn_monitored("app:echo", node .. "@app:workers")
  if not echo then error("spawn on " .. node .. " failed: " .. err) end
  for i = 1, n do
    local ok, e = process.send(echo, "ping", i)
    if not ok then error("send " .. i .. ": " .. e) end
  end
  local inbox = process.inbox()
  for i = 1, n do
    local r = channel.select{ inbox:case_receive(), time.after("20s"):case_receive() }
    if r.channel ~= inbox then error("pong " .. i .. " did not come within 20s") end
    local got = r.value:payload():data()
    if got ~= i then error("pong " .. i .. " came as " .. tostring(got)) end
  end
  print(n .. " pongs in order from " .. echo)
  process.terminate(echo)
  local events = process.events()
  local r = channel.select{ events:case_receive(), time.after("20s"):case_receive() }
  if r.channel ~= events then error("no EXIT within 20s") end
  print("EXIT from " .. r.value.from .. ": " .. tostring(r.value.result.error))
  return true
end

return { main = main }
