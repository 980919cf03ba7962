local io = require("io")
local env = require("env")

--- Run: wippy run -x app:cli
local function main(): integer
    io.print("APP_NAME    = " .. tostring(env.get("APP_NAME")))
    io.print("PORT        = " .. tostring(env.get("PORT")))
    io.print("LOG_LEVEL   = " .. tostring(env.get("LOG_LEVEL")))
    env.set("LOG_LEVEL", "debug")
    io.print("LOG_LEVEL   = " .. tostring(env.get("LOG_LEVEL")) .. " (after env.set)")
    local _, err = env.set("APP_VERSION", "2.0.0")
    io.print("Cannot set APP_VERSION: " .. tostring(err))
    return 0
end

return { main = main }
