-- Fan out: spawn N compute workers (i * 2 for i = 1..N), gather every EXIT through the
-- canonical events channel, and print the sum. `wippy run fanout 100`.
local process = require("process")

local function main(n)
  n = tonumber(n) or 10
  local pending = {}
  for i = 1, n do
    local pid, err = process.spawn_monitored("myns:compute_worker", "myns:processes", i, 2)
    if err then error("spawn " .. i .. " failed: " .. err) end
    pending[pid] = true
  end
  local events = process.events()
  local sum, failed = 0, 0
  for _ = 1, n do
    local event = events:receive()
    if event.kind == process.event.EXIT and pending[event.from] then
      pending[event.from] = nil
      if event.result.error then failed = failed + 1 else sum = sum + event.result.value end
    end
  end
  print(string.format("%d workers, sum %d, %d failed", n, sum, failed))
  return failed == 0
end

return { main = main }
