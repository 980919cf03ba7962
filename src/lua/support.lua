-- Run once per Lua state, before any script, with the raw library functions it needs
-- (scripts may replace globals later; these locals keep the originals). Returns the
-- driver and the sandbox's replacements. Why the trampolines exist: see `mod.rs`.
-- `raw` holds the library's own `resume`, `create`, `status`, `close`, `yield`,
-- `isyieldable`, `load`, `setmetatable` and `collectgarbage` (called as fields, so their
-- argument errors name them); `take(co)` reports and forgets whether the hook preempted
-- `co`; `pending` is mlua's marker for an async host call that is waiting.
local raw, take, pending = ...
local create, status, close, yield, isyieldable =
      raw.create, raw.status, raw.close, raw.yield, raw.isyieldable
local select, rawequal, rawget, error, type, tostring =
      select, rawequal, rawget, error, type, tostring

local CANNOT_WAIT = "cannot wait here: a coroutine that waits (time.sleep, receive) "
  .. "was resumed from a metamethod or a callback of a C function (such as table.sort), "
  .. "which cannot be suspended"

-- What a trampoline yields outward for a preemption of a coroutine it resumed, so the
-- trampoline a level further out knows it too (the hook's record is for the thread it
-- yielded only). No script can get hold of this value.
local PREEMPTED = {}

-- The driver: the only function the thread our executor resumes runs. It runs `f` in a
-- coroutine of its own and passes everything that coroutine yields outward (a host wait,
-- a preemption, or a plain yield of the script's) and everything it is resumed with back.
-- A preemption goes out as no values at all: mlua then wakes the task and ends the Step.
local function drive(co, ok, ...)
  if not ok then
    error(..., 0)
  end
  if status(co) == "dead" then
    return ...
  end
  take(co)
  if select("#", ...) == 1 and rawequal((...), PREEMPTED) then
    return drive(co, raw.resume(co, yield()))
  end
  return drive(co, raw.resume(co, yield(...)))
end

local function driver(f, ...)
  local co = create(f)
  return drive(co, raw.resume(co, ...))
end

-- `coroutine.resume` for scripts: after a raw resume, a yield that the host caused (the
-- hook preempted the coroutine or one it resumed, or an async host call is waiting) goes
-- outward, and the coroutine is resumed with what comes back; only the script's own
-- yields return here.
local function forward(co, ok, ...)
  if ok and status(co) == "suspended" then
    local preempted = take(co)
    local one = select("#", ...) == 1
    preempted = preempted or (one and rawequal((...), PREEMPTED))
    if preempted or (one and rawequal((...), pending)) then
      if isyieldable() then
        if preempted then
          return forward(co, raw.resume(co, yield(PREEMPTED)))
        end
        return forward(co, raw.resume(co, yield(...)))
      elseif preempted then
        -- Nowhere to yield to (inside a metamethod or a C callback): keep running.
        return forward(co, raw.resume(co))
      else
        close(co)
        return false, CANNOT_WAIT
      end
    end
  end
  return ok, ...
end

local function resume(co, ...)
  return forward(co, raw.resume(co, ...))
end

-- `coroutine.wrap` on top of `resume`, with the error behaviour of Lua's own.
local function unwrap(co, ok, ...)
  if ok then
    return ...
  end
  local err = ...
  if status(co) == "dead" then
    local closed, closing_err = close(co)
    if not closed then
      err = closing_err
    end
  end
  error(err, 2)
end

local function wrap(f)
  local co = create(f)
  return function(...)
    return unwrap(co, resume(co, ...))
  end
end

-- `load` for scripts: text only (bytecode is not checked by Lua and can crash it).
local function load(chunk, name, _, ...)
  local f, err
  if select("#", ...) > 0 then
    f, err = raw.load(chunk, name, "t", ...)
  else
    f, err = raw.load(chunk, name, "t")
  end
  return f, err
end

-- `setmetatable` for scripts: no finalizers. Lua runs `__gc` with hooks off, so a busy
-- finalizer could neither be preempted nor terminated. (A metatable that gets `__gc`
-- only after `setmetatable` does not make the object finalizable, so checking here is
-- enough.)
local function setmetatable(t, mt)
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("setmetatable: __gc metamethods are not available in this sandbox", 2)
  end
  return (raw.setmetatable(t, mt))
end

-- `collectgarbage` for scripts: collecting and measuring only; tuning (stop, restart,
-- incremental, generational) is the host's business.
local GC_OPTIONS = { collect = true, count = true, step = true, isrunning = true }
local function collectgarbage(option, ...)
  if option ~= nil and not GC_OPTIONS[option] then
    error("collectgarbage: option '" .. tostring(option)
      .. "' is not available (collect, count, step, isrunning)", 2)
  end
  return (raw.collectgarbage(option, ...))
end

-- `xpcall` for scripts: once the process is killed, the script's message handler is not
-- called. The kill raises its error from inside the hook, where Lua runs the handler with
-- hooks off: a handler that loops would hold the worker forever.
local function xpcall(f, msgh, ...)
  if type(msgh) ~= "function" then
    return raw.xpcall(f, msgh, ...) -- the usual argument error
  end
  return raw.xpcall(f, function(e)
    if raw.killed() then
      return e
    end
    return msgh(e)
  end, ...)
end

return driver, resume, wrap, load, setmetatable, collectgarbage, xpcall
