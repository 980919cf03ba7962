local function call(name: string): (string?, string?)
    if name == "" then
        return nil, "a name is required"
    end
    return "Hello, " .. name .. "!"
end

return { call = call }
