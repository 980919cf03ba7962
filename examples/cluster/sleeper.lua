-- Waits for a message that never comes: it ends when terminated, or with its node.
local process = require("process")

local function main()
  process.inbox():receive()
end

return { main = main }
