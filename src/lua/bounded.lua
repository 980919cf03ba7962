-- Library functions whose C implementation could run for a long time in one call: the
-- preemption hook counts VM instructions and never runs inside a C function, so such a
-- call would hold its worker (and ignore `terminate`) until it returned. Each wrapper
-- calls the C function when its cost is provably small, and otherwise does the same work
-- in Lua, where the hook preempts and kills it like any other script code.
--
-- Arguments: a loader of the pure-Lua pattern functions (`patterns.lua`, run in the
-- environment it is given), then the `string` and `table` library tables, whose
-- functions are replaced in place.
local load_patterns, string, table = ...
local type, next = type, next
local crep, cmove, csort = string.rep, table.move, table.sort
local cinsert, cremove = table.insert, table.remove
local tointeger, select = math.tointeger, select

-- find, match, gmatch and gsub: C when `patterns.cost_bound` proves the call cheap, the
-- Lua port otherwise (and for gsub with a function or table replacement, which C would
-- call where the hook cannot yield). Same results and errors either way.
--
-- `patterns.lua` is ~1,600 lines: loading it was half of a Lua spawn, so it loads at the
-- first pattern call. It then runs in a copy of the globals and libraries as they are
-- now, before any script: a script that replaced `string.byte` could otherwise make
-- `cost_bound` call a slow pattern cheap and hold the worker in C.
local function copy(t)
  local c = {}
  for k, v in next, t do
    c[k] = v
  end
  return c
end
local pristine = copy(_G)
pristine.string, pristine.table, pristine.math = copy(string), copy(table), copy(math)
pristine._G = pristine
local hybrid
local function h()
  if hybrid == nil then
    hybrid = load_patterns(pristine).hybrid(pristine.string)
  end
  return hybrid
end
-- Tail calls: an error raised inside reports the script's line, as a direct call would.
function string.find(...) return h().find(...) end
function string.match(...) return h().match(...) end
function string.gmatch(...) return h().gmatch(...) end
function string.gsub(...) return h().gsub(...) end

-- `string.rep("", n)` loops n times in C to build nothing; any other large result is
-- refused by the memory limit before the loop starts. `n` as C reads it: an integer, a
-- float with an integer value or a numeric string (math.tointeger converts the same).
function string.rep(s, n, sep)
  if s == "" and (sep == nil or sep == "") and tointeger(n) then
    return ""
  end
  return crep(s, n, sep)
end

-- Elements moved or sorted in one C call at most (about a millisecond of work).
local C_LIMIT = 100000
-- Elements sorted in one C call that calls back into a Lua comparator.
local C_CALLBACK_LIMIT = 1000

function table.move(a1, f, e, t, a2)
  local fi, ei, ti = tointeger(f), tointeger(e), tointeger(t)
  if not (fi and ei and ti) or ei < fi or ei - fi < C_LIMIT then
    return cmove(a1, f, e, t, a2) -- short, or the usual argument errors
  end
  f, e, t = fi, ei, ti
  if a2 == nil then
    a2 = a1
  end
  if type(a1) ~= "table" or type(a2) ~= "table" then
    return cmove(a1, f, e, t, a2) -- the usual argument errors
  end
  if t > e or t <= f or a1 ~= a2 then
    for i = 0, e - f do
      a2[t + i] = a1[f + i]
    end
  else
    for i = e - f, 0, -1 do
      a2[t + i] = a1[f + i]
    end
  end
  return a2
end

-- insert and remove shift every element after the position, in C; `#t` may be anything
-- a `__len` metamethod says.
function table.insert(t, ...)
  if select("#", ...) == 2 and type(t) == "table" then
    local pos, v = ...
    local e, p = tointeger(#t), tointeger(pos)
    if e and p and p >= 1 and p <= e + 1 and e + 1 - p >= C_LIMIT then
      for i = e + 1, p + 1, -1 do
        t[i] = t[i - 1]
      end
      t[p] = v
      return
    end
  end
  return cinsert(t, ...)
end

function table.remove(t, ...)
  if type(t) == "table" then
    local size = tointeger(#t)
    local p = size
    if select("#", ...) > 0 and (...) ~= nil then
      p = tointeger((...))
    end
    if size and p and p >= 1 and p <= size and size - p >= C_LIMIT then
      local v = t[p]
      for i = p, size - 1 do
        t[i] = t[i + 1]
      end
      t[size] = nil
      return v
    end
  end
  return cremove(t, ...)
end

-- Merge sort (stable; the C sort is not, and no program may rely on either order of
-- equal elements), for tables too long for one C call.
local function lt(a, b)
  return a < b
end

local function merge_sort(t, n, less)
  local src, dst = t, {}
  for i = 1, n do
    dst[i] = t[i]
  end
  src, dst = dst, {}
  local width = 1
  while width < n do
    local i = 1
    while i <= n do
      local mid, hi = i + width, i + 2 * width
      if mid > n + 1 then mid = n + 1 end
      if hi > n + 1 then hi = n + 1 end
      local a, b, k = i, mid, i
      while a < mid and b < hi do
        if less(src[b], src[a]) then
          dst[k] = src[b]; b = b + 1
        else
          dst[k] = src[a]; a = a + 1
        end
        k = k + 1
      end
      while a < mid do dst[k] = src[a]; a = a + 1; k = k + 1 end
      while b < hi do dst[k] = src[b]; b = b + 1; k = k + 1 end
      i = hi
    end
    src, dst = dst, src
    width = width * 2
  end
  for i = 1, n do
    t[i] = src[i]
  end
end

function table.sort(t, comp)
  if type(t) ~= "table" or (comp ~= nil and type(comp) ~= "function") then
    return csort(t, comp) -- the usual argument errors
  end
  -- A comparator is Lua code called from C, where the hook cannot yield: keep the C
  -- sort for short tables only.
  local n = #t
  if n < (comp and C_CALLBACK_LIMIT or C_LIMIT) then
    return csort(t, comp)
  end
  merge_sort(t, n, comp or lt)
end
