-- `rtt NODE N`: spawns an echo process on NODE and does N round trips with it, one at a
-- time (a message there, its answer back); returns the nanoseconds they took.
local process = require("process")
local time = require("time")

local function main(node, n)
  n = tonumber(n) or 1000
  local echo, err = process.spawn("app:echo", node .. "@app:workers")
  if not echo then error("spawn on " .. node .. " failed: " .. err) end
  local inbox = process.inbox()
  -- One round trip first, so the echo process is running before the clock starts.
  process.send(echo, "ping", 0)
  inbox:receive()
  local start = time.now()
  for i = 1, n do
    local ok, e = process.send(echo, "ping", i)
    if not ok then error("send " .. i .. ": " .. e) end
    local msg = inbox:receive()
    if msg:payload():data() ~= i then error("pong " .. i .. " out of order") end
  end
  local took = time.now():sub(start):nanoseconds()
  process.terminate(echo)
  return took
end

return { main = main }
