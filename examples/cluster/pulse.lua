-- `pulse NODE N`: spawns an echo process on NODE, then sends one ping every 100 ms until N
-- pongs have come back. Delivery is at most once: a ping or pong lost while the NATS
-- server is away is reported as lost, and the next ping goes out.
local process = require("process")
local time = require("time")

local function main(node, n)
  n = tonumber(n) or 10
  local echo, err = process.spawn("app:echo", node .. "@app:workers")
  if not echo then error("spawn on " .. node .. " failed: " .. err) end
  local inbox = process.inbox()
  local got, seq = 0, 0
  while got < n do
    seq = seq + 1
    if seq > 200 then error("only " .. got .. " pongs in 200 pings") end
    local sent, e = process.send(echo, "ping", seq)
    local back = false
    if sent then
      local deadline = time.after("500ms")
      while not back do
        local r = channel.select{ inbox:case_receive(), deadline:case_receive() }
        if r.channel ~= inbox then break end
        back = r.value:payload():data() == seq
      end
    end
    if back then
      got = got + 1
      print("pong " .. seq)
      time.sleep("100ms")
    else
      print("lost " .. seq .. (e and (": " .. e) or ""))
      time.sleep("200ms")
    end
  end
  process.terminate(echo)
  return true
end

return { main = main }
