-- `dispatch NODE...`: spawns three compute workers on each NODE (compute(i, 2) for
-- i = 1..3), gathers every EXIT and prints, per node, the results in the order they
-- were asked for.
local process = require("process")
local time = require("time")

local function main(...)
  local nodes = { ... }
  if #nodes == 0 then error("usage: dispatch NODE...") end
  local asked = {}
  for _, node in ipairs(nodes) do
    for i = 1, 3 do
      local pid, err = process.spawn_monitored("app:compute", node .. "@app:workers", i, 2)
      if not pid then error("spawn on " .. node .. " failed: " .. err) end
      asked[pid] = { node = node, i = i }
    end
  end
  local results = {}
  local events = process.events()
  for _ = 1, 3 * #nodes do
    local r = channel.select{ events:case_receive(), time.after("20s"):case_receive() }
    if r.channel ~= events then error("a worker's EXIT did not come within 20s") end
    local event = r.value
    local job = asked[event.from]
    if not job then error("an EXIT from a process not asked for: " .. event.from) end
    if event.result.error then error(event.from .. " failed: " .. event.result.error) end
    results[job.node] = results[job.node] or {}
    results[job.node][job.i] = event.result.value
  end
  for _, node in ipairs(nodes) do
    local r = results[node]
    print(string.format("node %s: %d %d %d", node, r[1], r[2], r[3]))
  end
  return true
end

return { main = main }
