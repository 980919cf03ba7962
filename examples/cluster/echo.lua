-- Replies to every message with a "pong" carrying the same payload, to its sender.
local process = require("process")

local function main()
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    process.send(msg:from(), "pong", msg:payload():data())
  end
end

return { main = main }
