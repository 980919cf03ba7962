-- Registers `name`, tells `parent` how that went, and waits to be terminated.
local process = require("process")

local function main(parent, name)
  local ok, err = process.registry.register(name)
  process.send(parent, "registered", ok and "ok" or err)
  process.inbox():receive()
end

return { main = main }
