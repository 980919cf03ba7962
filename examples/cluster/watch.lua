-- `watch NODE`: spawns a sleeper on NODE (monitored, and linked with links trapped),
-- says so, then prints the EXIT and LINK_DOWN it gets when NODE goes.
local process = require("process")
local time = require("time")

local function main(node)
  process.set_options({ trap_links = true })
  local pid, err = process.spawn_linked_monitored("app:sleeper", node .. "@app:workers")
  if not pid then error("spawn on " .. node .. " failed: " .. err) end
  print("watching " .. pid)
  local events = process.events()
  local seen = {}
  while not (seen.EXIT and seen.LINK_DOWN) do
    local r = channel.select{ events:case_receive(), time.after("60s"):case_receive() }
    if r.channel ~= events then error("no event within 60s") end
    local e = r.value
    seen[e.type] = true
    print(e.type .. " from " .. e.from .. ": " .. tostring(e.result.error))
  end
  return true
end

return { main = main }
