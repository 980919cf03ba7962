local logger = require("logger")
local events = require("events")

--- Counts events by kind until cancelled.
local function main()
    local sub, err = events.subscribe("users")
    if err then
        logger:error("Failed to subscribe", { error = tostring(err) })
        return 1
    end
    local counts = {}
    local ch, evts = sub:channel(), process.events()
    while true do
        local r = channel.select { ch:case_receive(), evts:case_receive() }
        if r.channel == evts then
            if r.value.kind == process.event.CANCEL then
                sub:close()
                logger:info("[COUNTER] Final counts", counts)
                return 0
            end
        else
            counts[r.value.kind] = (counts[r.value.kind] or 0) + 1
            logger:info("[COUNTER] Running totals", counts)
        end
    end
end

return { main = main }
