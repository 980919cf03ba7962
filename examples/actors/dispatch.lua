-- Starts a pool of C workers (linked: if one fails, so does the dispatcher), sends them
-- jobs round-robin as messages, and gathers the answers, which arrive as tables (the
-- workers reply in JSON).
local process = require("process")

local function main(jobs, workers)
  jobs = tonumber(jobs) or 100
  workers = tonumber(workers) or 4
  local pool = {}
  for i = 1, workers do
    pool[i] = process.spawn_linked("actors:square_worker", "myns:processes")
  end
  for j = 1, jobs do
    local ok, err = process.send(pool[(j - 1) % workers + 1], "job", j)
    if not ok then error(err) end
  end
  local inbox, sum = process.inbox(), 0
  for _ = 1, jobs do
    local m = inbox:receive()
    sum = sum + m:payload():data().square
  end
  for i = 1, workers do process.send(pool[i], "stop", "") end
  print(("%d jobs on %d wasm workers: the squares add up to %d"):format(jobs, workers, sum))
end

return { main = main }
