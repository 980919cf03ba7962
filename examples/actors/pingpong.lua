-- Spawns the C pong and ping processes, introduces them, and waits for ping's result:
-- the number of round trips that came back in order.
local process = require("process")
local time = require("time")

local function main(n)
  n = tonumber(n) or 10000
  local started = time.now()
  local pong = process.spawn("actors:pong", "myns:processes")
  local ping = process.spawn_monitored("actors:ping", "myns:processes", n)
  process.send(ping, "peer", pong)
  local exit = process.events():receive()
  if exit.result.error then error("ping failed: " .. exit.result.error) end
  local ms = (time.now() - started):milliseconds()
  print(("%d of %d round trips came back in order (%d ms)"):format(exit.result.value, n, ms))
end

return { main = main }
