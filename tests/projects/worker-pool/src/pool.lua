local io = require("io")
local time = require("time")

type Job = {id: integer, input: integer}
type Result = {job_id: integer, worker: integer, value: integer}

--- A worker pool in the style of Wippy's 04-worker-pool: coroutines share channels.
--- Run: wippy run -x app:pool
local function main(): integer
    local num_workers, num_jobs = 3, 6
    local jobs = channel.new(num_jobs)
    local results = channel.new(num_jobs)

    for w = 1, num_workers do
        coroutine.spawn(function()
            while true do
                local job: Job?, ok = jobs:receive()
                if not ok then break end
                time.sleep("20ms")
                results:send({ job_id = job.id, worker = w, value = job.input * job.input })
            end
        end)
    end

    for i = 1, num_jobs do
        jobs:send({ id = i, input = i })
    end
    jobs:close()

    local by_job: {[integer]: Result} = {}
    for _ = 1, num_jobs do
        local r: Result = results:receive()
        by_job[r.job_id] = r
    end
    for i = 1, num_jobs do
        io.print(string.format("Job #%d: %d^2 = %d", i, i, by_job[i].value))
    end
    io.print("All jobs done.")
    return 0
end

return { main = main }
