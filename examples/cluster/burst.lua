-- `burst NODE N`: spawns an echo process on NODE, sends it N messages at once, and waits
-- for the N answers (throughput: benches/cluster.rs). N stays under the mailbox size
-- (4096), since a message to a full mailbox is dropped, not waited for.
local process = require("process")

local function main(node, n)
  n = tonumber(n) or 1000
  local echo, err = process.spawn("app:echo", node .. "@app:workers")
  if not echo then error("spawn on " .. node .. " failed: " .. err) end
  for i = 1, n do
    local ok, e = process.send(echo, "ping", i)
    if not ok then error("send " .. i .. ": " .. e) end
  end
  local inbox = process.inbox()
  for i = 1, n do
    local msg = inbox:receive()
    if msg:payload():data() ~= i then error("answer " .. i .. " out of order") end
  end
  process.terminate(echo)
  return n
end

return { main = main }
