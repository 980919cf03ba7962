local function call(n: number): number
    return n * 2
end

return { call = call }
