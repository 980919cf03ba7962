local io = require("io")
local funcs = require("funcs")

--- Run: wippy run -x app:cli
local function main(): integer
    local result, err = funcs.call("app:double", 21)
    if err then
        io.print("Error: " .. tostring(err))
        return 1
    end
    io.print("double(21) = " .. tostring(result))
    io.print("greet('Alice') = " .. funcs.call("app:greet", "Alice"))
    local _, refused = funcs.call("app:greet", "")
    io.print("greet('') fails: " .. tostring(refused ~= nil))
    return 0
end

return { main = main }
