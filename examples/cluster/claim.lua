-- `claim NAME`: registers NAME for this process. In a cluster, of two nodes that claim
-- one name at once exactly one wins; the other is told who holds it.
local process = require("process")
local time = require("time")

local function main(name)
  local ok, err = process.registry.register(name)
  if ok then
    print("won " .. name .. " as " .. process.pid())
  else
    print("lost " .. name .. ": " .. err)
  end
  -- Held a while, so a claim that started at the same time finds it taken.
  time.sleep("3s")
  return true
end

return { main = main }
