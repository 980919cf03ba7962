-- The seed's example, as written: spawn compute_worker(6, 7), wait for its EXIT.
local process = require("process")
local time = require("time")

local function main()
  local pid, err = process.spawn_monitored("myns:compute_worker", "myns:processes", 6, 7)
  if err then error("spawn failed: " .. tostring(err)) end
  local event = process.receive(time.seconds(10))
  if event and event.type == "EXIT" then
    local result = event.value
    print(result)
    return result
  end
  error("no EXIT from " .. pid .. " within 10 s")
end

return { main = main }
