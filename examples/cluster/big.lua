-- `big NODE BYTES`: sends a message of BYTES bytes to an echo process on NODE and says
-- what came of it: its answer, or the sender's error.
local process = require("process")

local function main(node, bytes)
  local echo, err = process.spawn("app:echo", node .. "@app:workers")
  if not echo then error("spawn on " .. node .. " failed: " .. err) end
  local payload = string.rep("x", tonumber(bytes))
  local ok, e = process.send(echo, "big", payload)
  if not ok then
    print("refused: " .. e)
  else
    local answer = process.inbox():receive():payload():data()
    print("echoed " .. #answer .. " bytes")
  end
  process.terminate(echo)
  return true
end

return { main = main }
