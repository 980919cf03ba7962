local logger = require("logger")
local events = require("events")
local time = require("time")

--- Emits user events; it does not know who listens. Run: wippy run
local function main(): integer
    time.sleep("100ms")
    for _, kind in ipairs({ "user.created", "user.login", "user.created" }) do
        logger:info("Publishing", { kind = kind })
        events.send("users", kind, "/users/1", { name = "Alice" })
    end
    return 0
end

return { main = main }
