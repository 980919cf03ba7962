-- `names NODE`: a registrar on NODE takes the name "svc"; this process looks it up until
-- it is seen, then waits for NODE to go down and for the name to go with it.
local process = require("process")
local time = require("time")

local function until_lookup(want_nil)
  for _ = 1, 1000 do
    local pid = process.registry.lookup("svc")
    if (pid == nil) == want_nil then return pid end
    time.sleep("10ms")
  end
  error("lookup of svc did not change within 10s")
end

local function main(node)
  local pid, err = process.spawn_monitored("app:registrar", node .. "@app:workers", process.pid(), "svc")
  if not pid then error("spawn on " .. node .. " failed: " .. err) end
  local msg = process.inbox():receive()
  if msg:payload():data() ~= "ok" then error("register failed: " .. tostring(msg:payload():data())) end
  local holder = until_lookup(false)
  print("svc is " .. holder)
  local event = process.events():receive()
  print("EXIT from " .. event.from .. ": " .. tostring(event.result.error))
  until_lookup(true)
  print("svc released")
  return true
end

return { main = main }
