-- Lua 5.4's pattern functions (`string.find`, `match`, `gmatch`, `gsub`) in plain Lua.
--
-- Why: the count hook that preempts and terminates a Lua process never runs inside a C
-- function, and Lua's C matcher (lstrlib.c) backtracks: `string.find(string.rep("a",
-- 1e5), ".-.-.-b")` runs for minutes in one C call. This file ports lstrlib.c's matcher
-- (same backtracking, same results, same errors, same 200-level depth limit) to Lua,
-- where the hook preempts and kills it like any other Lua code. `cost_bound` tells when
-- the C implementation is provably cheap, so callers can use C then and this otherwise.
--
-- Returns a table:
--   find, match, gmatch, gsub: the `string` functions (same arguments, results, errors);
--   cost_bound(s, p, plain, fname): whether the C function is cheap for these arguments;
--   hybrid(native): find, match, gmatch, gsub choosing between `native` (the original C
--     functions) and this file's with `cost_bound` (optional; see there).
-- Library functions are captured here at load time: this file never calls
-- `string.find`/`match`/`gmatch`/`gsub` (the sandbox replaces them with wrappers that
-- call back into this file).
--
-- How it works: a pattern is compiled once (cached) into an array of items, each with a
-- kind, a 256-entry byte lookup table for single-character classes, and a quantifier.
-- Everything lstrlib.c decides at match time that depends only on the pattern
-- (malformed items, capture levels, which capture a ')' closes, back-reference checks)
-- is decided when compiling; an item on which C would raise an error becomes an "error
-- item" that raises the same message when the matcher reaches it, so errors are still
-- lazy, exactly as in C (e.g. `("abc"):find("x[")` returns nil in both).
--
-- Errors: raised with the position of the caller's line, as luaL_error does for a C
-- function called from Lua. So a wrapper should tail-call these functions (`return
-- patterns.find(...)`); a wrapper that does not would be the reported position.
-- Known deviations from the C functions:
-- * when the script itself tail-calls (`return s:find(p)`), the position is that of the
--   line calling the script's function: Lua keeps the calling frame for a tail-called C
--   function only.
-- * argument errors always name the function as a direct call `string.find(...)` does
--   ("bad argument #1 to 'find' (...)"); C derives the name and the argument number from
--   the call site (`s:find(nil)` says "#1" for the pattern, `pcall(string.find, ...)`
--   says 'string.find', a call through a local `f` says 'f').
-- * the type in "string expected, got X" is `type(x)` or a string `__name` metafield,
--   as in C, except that a light userdata is reported as "userdata", and a metatable
--   protected by `__metatable` hides `__name`.
-- * after a "pattern too complex" error inside a gmatch iterator, C's iterator keeps a
--   smaller depth budget for its later calls; this one starts every call afresh.
-- * a memory error inside these functions reaches the caller as an ordinary error with
--   the message "not enough memory" (they catch and re-raise errors at their boundary).

local byte, sub, tostring, tonumber, type, error, select, rawget, rawequal, getmetatable =
  string.byte, string.sub, tostring, tonumber, type, error, select, rawget, rawequal,
  getmetatable
local pcall, ipairs = pcall, ipairs
local concat, unpack = table.concat, table.unpack
local tointeger, mtype, huge = math.tointeger, math.type, math.huge
local setmetatable = setmetatable

local MAXCCALLS = 200 -- lstrlib.c's recursion limit for `match`
local MAXCAPTURES = 32 -- LUA_MAXCAPTURES

-- Budget for a C call, in matcher steps (a step is a few nanoseconds): about 1-5 ms.
local BUDGET = 2 ^ 20
-- A call whose work is at most LINEAR steps per subject byte counts as cheap at any
-- size: it costs no more than building the subject did (string.rep, .., table.concat
-- are single C calls too).
local LINEAR = 16

-- Errors of this file are raised as {TAG, message} and turned into `message` at the
-- public functions' boundary (`finish`), with the position of the caller's line as
-- luaL_error gives (a C function's errors point at the Lua code that called it).
local TAG = {}
local function raise(msg)
  error({ TAG, msg }, 0)
end

-- Item kinds.
local K_SINGLE = 1 -- single-char class, with optional quantifier
local K_OPEN = 2 -- '('
local K_POS = 3 -- '()'
local K_CLOSE = 4 -- ')'
local K_END = 5 -- '$' at the end of the pattern
local K_BAL = 6 -- '%bxy'
local K_FRONT = 7 -- '%f[set]'
local K_BACKREF = 8 -- '%1'..'%9'
local K_FAIL = 9 -- a back-reference to a position capture: never matches (as in C)
local K_ERR = 10 -- raises arg[k] when reached

-- Quantifiers.
local Q_NONE, Q_STAR, Q_PLUS, Q_MIN, Q_OPT = 0, 1, 2, 3, 4

-- Capture states while compiling.
local CAP_UNFINISHED, CAP_CLOSED, CAP_POSITION = 1, 2, 3

---------------------------------------------------------------------------------------
-- Character classes (C locale, by byte value).

local function range(t, lo, hi)
  for c = lo, hi do
    t[c] = true
  end
  return t
end

local IS = {}
IS[97] = range(range({}, 65, 90), 97, 122) -- a: isalpha
IS[99] = range(range({}, 0, 31), 127, 127) -- c: iscntrl
IS[100] = range({}, 48, 57) -- d: isdigit
IS[103] = range({}, 33, 126) -- g: isgraph
IS[108] = range({}, 97, 122) -- l: islower
IS[112] = range(range(range(range({}, 33, 47), 58, 64), 91, 96), 123, 126) -- p: ispunct
IS[115] = range(range({}, 9, 13), 32, 32) -- s: isspace
IS[117] = range({}, 65, 90) -- u: isupper
IS[119] = range(range(range({}, 48, 57), 65, 90), 97, 122) -- w: isalnum
IS[120] = range(range(range({}, 48, 57), 65, 70), 97, 102) -- x: isxdigit
IS[122] = { [0] = true } -- z: c == 0 (deprecated in C, still supported)

-- lstrlib.c's match_class(c, cl).
local function match_class(c, cl)
  local lower = cl
  if cl >= 65 and cl <= 90 then
    lower = cl + 32
  end
  local t = IS[lower]
  if not t then
    return cl == c
  end
  local res = t[c] == true
  if cl >= 97 and cl <= 122 then
    return res
  end
  return not res
end

-- lstrlib.c's matchbracketclass(c, p, ec): `p` is at '[', `ec` at the closing ']'.
local function match_bracket(c, P, p, ec)
  local sig = true
  if byte(P, p + 1) == 94 then -- '^'
    sig = false
    p = p + 1
  end
  p = p + 1
  while p < ec do
    local pc = byte(P, p)
    if pc == 37 then -- '%'
      p = p + 1
      if match_class(c, byte(P, p) or 0) then
        return sig
      end
      p = p + 1
    elseif byte(P, p + 1) == 45 and p + 2 < ec then -- range 'x-y'
      if pc <= c and c <= byte(P, p + 2) then
        return sig
      end
      p = p + 3
    else
      if pc == c then
        return sig
      end
      p = p + 1
    end
  end
  return not sig
end

-- Lookup tables (byte -> true) for single-character classes, shared by all patterns.
local ANY = range({}, 0, 255)
local EMPTY = {}
local CHAR, CLASS = {}, {}
local BRACKET, bracket_count = {}, 0

local function char_set(c)
  local t = CHAR[c]
  if not t then
    t = { [c] = true }
    CHAR[c] = t
  end
  return t
end

local function class_set(cl)
  local t = CLASS[cl]
  if not t then
    t = {}
    for c = 0, 255 do
      if match_class(c, cl) then
        t[c] = true
      end
    end
    CLASS[cl] = t
  end
  return t
end

-- The set '[...]' at P[p..ec] (ec at the closing ']').
local function bracket_set(P, p, ec)
  local key = sub(P, p, ec)
  local t = BRACKET[key]
  if not t then
    t = {}
    for c = 0, 255 do
      if match_bracket(c, P, p, ec) then
        t[c] = true
      end
    end
    if bracket_count >= 1024 then
      BRACKET, bracket_count = {}, 0
    end
    BRACKET[key] = t
    bracket_count = bracket_count + 1
  end
  return t
end

-- How many elements the set has: the C matcher's cost of testing one byte against it.
local function bracket_cost(P, p, ec)
  local n = 0
  if byte(P, p + 1) == 94 then
    p = p + 1
  end
  p = p + 1
  while p < ec do
    if byte(P, p) == 37 then
      p = p + 2
    elseif byte(P, p + 1) == 45 and p + 2 < ec then
      p = p + 3
    else
      p = p + 1
    end
    n = n + 1
  end
  return n > 0 and n or 1
end

---------------------------------------------------------------------------------------
-- Compiling.

-- lstrlib.c's classend: the end (exclusive) of the single-char class at P[p], or nil and
-- the error C raises. `pend` = #P + 1; reading P[pend] gives nil, as C reads the '\0'.
local function classend(P, p, pend)
  local c = byte(P, p)
  p = p + 1
  if c == 37 then -- '%'
    if p == pend then
      return nil, "malformed pattern (ends with '%')"
    end
    return p + 1
  elseif c == 91 then -- '['
    if byte(P, p) == 94 then
      p = p + 1
    end
    repeat -- look for a ']'
      if p == pend then
        return nil, "malformed pattern (missing ']')"
      end
      local cc = byte(P, p)
      p = p + 1
      if cc == 37 and p < pend then
        p = p + 1 -- skip escapes (e.g. '%]')
      end
    until byte(P, p) == 93
    return p + 1
  end
  return p
end

-- Polynomials in N (= #subject + 1) as {coefficient, degree}: an upper bound valid for
-- all N >= 1, so sum = (c1 + c2, max degree) and product by N = (c, degree + 1).
local function padd(a, b)
  return { a[1] + b[1], a[2] > b[2] and a[2] or b[2] }
end
local function pconst(c)
  return { c, 0 }
end
local function ptimesN(a)
  return { a[1], a[2] + 1 }
end

-- Bounds the work of the C matcher (see `cost_bound`) for the compiled items of `c`.
-- Walks the items backwards, keeping for the rest of the pattern:
--   nofail: match(rest) cannot fail (it can only succeed or raise);
--   F: work of a match(rest) call that fails;
--   E: work of a successful match(rest) call beyond the path's own work (one step per
--      item plus one step per subject byte the match consumes, times the item's cost).
-- Each quantifier followed by a rest that can fail multiplies by N (C tries the rest
-- after every repetition count); a trailing one only scans what it consumes.
local function bound(c)
  local kind, suf, cost = c.kind, c.suf, c.cost
  local nofail, F, E = true, pconst(0), pconst(0)
  local steps, maxcost = 0, 1
  for k = c.n, 1, -1 do
    local kd, w = kind[k], cost[k] or 1
    steps = steps + w
    if w > maxcost then
      maxcost = w
    end
    if kd == K_OPEN or kd == K_POS or kd == K_CLOSE then
      if not nofail then
        F = padd(F, pconst(1))
      end
      E = padd(E, pconst(1))
    elseif kd == K_ERR then -- raising ends the call
      nofail, F, E = true, pconst(0), pconst(1)
    elseif kd == K_END or kd == K_FAIL then
      nofail, F, E = false, pconst(1), pconst(1)
    elseif kd == K_BAL or kd == K_BACKREF then -- scan/compare up to N bytes, no branching
      F = nofail and ptimesN(pconst(1)) or padd(ptimesN(pconst(1)), F)
      E = padd(E, pconst(1))
      nofail = false
    elseif kd == K_FRONT or suf[k] == Q_NONE then
      F = nofail and pconst(w) or padd(pconst(w), F)
      E = padd(E, pconst(w))
      nofail = false
    elseif suf[k] == Q_OPT then
      if nofail then
        E = padd(E, pconst(w))
      else
        E = padd(padd(E, F), pconst(w))
        F = padd(pconst(w), padd(F, F))
      end
    elseif nofail then -- '*', '+', '-' before a rest that cannot fail: no backtracking
      if suf[k] == Q_PLUS then
        nofail, F = false, pconst(w)
      end
      E = padd(E, pconst(w))
    else -- '*', '+', '-': up to N repetitions, each followed by a failing rest
      F = ptimesN(padd(pconst(w), F))
      E = padd(E, F)
    end
  end
  -- Work of a whole call: gsub (the worst case) tries up to N start positions (1 when
  -- anchored), each failing (F) or succeeding (E plus `steps` for the items, plus its
  -- consumed bytes, which sum to at most N over all successes).
  local attempt = padd(padd(F, E), pconst(steps))
  local whole = padd(c.anchored and attempt or ptimesN(attempt), ptimesN(pconst(maxcost)))
  c.bound_coef, c.bound_degree = whole[1], whole[2]
  -- Cheap for N (= #subject + 1) up to limitN: coef * N^degree <= BUDGET, or any N
  -- when the bound is at most LINEAR * N.
  if whole[2] <= 1 and whole[1] <= LINEAR then
    c.limitN = huge
  else
    c.limitN = (BUDGET / whole[1]) ^ (1 / whole[2])
  end
end

local function new_items()
  return {
    kind = {},
    set = {},
    suf = {},
    arg = {},
    arg2 = {},
    cost = {},
    n = 0,
    repl_ok = {},
    repl_count = 0,
  }
end

-- Whether P has none of lstrlib.c's SPECIALS "^$*+?.([%-".
local SPECIAL = {}
for _, ch in ipairs({ 94, 36, 42, 43, 63, 46, 40, 91, 37, 45 }) do
  SPECIAL[ch] = true
end
local function nospecials(P)
  for i = 1, #P do
    if SPECIAL[byte(P, i)] then
      return false
    end
  end
  return true
end

-- Compiles pattern P from byte `start` (2 after an anchor '^', else 1).
local function compile(P, start)
  local c = new_items()
  local kind, set, suf, arg, arg2, cost = c.kind, c.set, c.suf, c.arg, c.arg2, c.cost
  local pend = #P + 1
  local n, level = 0, 0
  local capstate = {}
  local p = start
  local errmsg
  while p < pend do
    local ch = byte(P, p)
    if ch == 40 then -- '('
      if level >= MAXCAPTURES then
        errmsg = "too many captures"
        break
      end
      level = level + 1
      n = n + 1
      arg[n] = level
      if byte(P, p + 1) == 41 then -- position capture
        kind[n] = K_POS
        capstate[level] = CAP_POSITION
        p = p + 2
      else
        kind[n] = K_OPEN
        capstate[level] = CAP_UNFINISHED
        p = p + 1
      end
    elseif ch == 41 then -- ')'
      local l = level
      while l >= 1 and capstate[l] ~= CAP_UNFINISHED do
        l = l - 1
      end
      if l < 1 then
        errmsg = "invalid pattern capture"
        break
      end
      capstate[l] = CAP_CLOSED
      n = n + 1
      kind[n] = K_CLOSE
      arg[n] = l
      p = p + 1
    elseif ch == 36 and p + 1 == pend then -- '$' at the end
      n = n + 1
      kind[n] = K_END
      p = p + 1
    elseif ch == 37 and byte(P, p + 1) == 98 then -- '%b'
      if p + 2 >= pend - 1 then
        errmsg = "malformed pattern (missing arguments to '%b')"
        break
      end
      n = n + 1
      kind[n] = K_BAL
      arg[n] = byte(P, p + 2)
      arg2[n] = byte(P, p + 3)
      p = p + 4
    elseif ch == 37 and byte(P, p + 1) == 102 then -- '%f'
      p = p + 2
      if byte(P, p) ~= 91 then
        errmsg = "missing '[' after '%f' in pattern"
        break
      end
      local ep, msg = classend(P, p, pend)
      if not ep then
        errmsg = msg
        break
      end
      n = n + 1
      kind[n] = K_FRONT
      set[n] = bracket_set(P, p, ep - 1)
      cost[n] = bracket_cost(P, p, ep - 1)
      p = ep
    elseif ch == 37 and (byte(P, p + 1) or 0) >= 48 and byte(P, p + 1) <= 57 then -- '%0'-'%9'
      local l = byte(P, p + 1) - 48
      if l < 1 or l > level or capstate[l] == CAP_UNFINISHED then
        errmsg = "invalid capture index %" .. l
        break
      end
      n = n + 1
      if capstate[l] == CAP_POSITION then
        kind[n] = K_FAIL
      else
        kind[n] = K_BACKREF
        arg[n] = l
      end
      p = p + 2
    else -- single-char class with optional quantifier
      local ep, msg = classend(P, p, pend)
      if not ep then
        errmsg = msg
        break
      end
      n = n + 1
      kind[n] = K_SINGLE
      if ch == 46 then -- '.'
        set[n] = ANY
      elseif ch == 37 then
        set[n] = class_set(byte(P, p + 1))
      elseif ch == 91 then
        set[n] = bracket_set(P, p, ep - 1)
        cost[n] = bracket_cost(P, p, ep - 1)
      else
        set[n] = char_set(ch)
      end
      local q = byte(P, ep)
      if q == 42 then
        suf[n] = Q_STAR
      elseif q == 43 then
        suf[n] = Q_PLUS
      elseif q == 45 then
        suf[n] = Q_MIN
      elseif q == 63 then
        suf[n] = Q_OPT
      else
        suf[n] = Q_NONE
      end
      p = suf[n] == Q_NONE and ep or ep + 1
    end
  end
  if errmsg then
    n = n + 1
    kind[n] = K_ERR
    arg[n] = errmsg
  end
  c.n = n
  c.ncap = level
  -- Captures C would report as "unfinished capture" after a successful match, and
  -- position captures (reported as integers).
  c.unfinished, c.position = {}, {}
  for l = 1, level do
    c.unfinished[l] = capstate[l] == CAP_UNFINISHED
    c.position[l] = capstate[l] == CAP_POSITION
  end
  -- For each k, the lookup table of the first item from k on that must match a byte
  -- (no quantifier or '+', or '%b'), if only captures (`gap` of them) come before it.
  local nextset, nextgap = {}, {}
  for j = n, 1, -1 do
    local kd = kind[j]
    if kd == K_SINGLE and (suf[j] == Q_NONE or suf[j] == Q_PLUS) then
      nextset[j], nextgap[j] = set[j], 0
    elseif kd == K_BAL then
      nextset[j], nextgap[j] = char_set(arg[j]), 0
    elseif (kd == K_OPEN or kd == K_POS or kd == K_CLOSE) and nextset[j + 1] then
      nextset[j], nextgap[j] = nextset[j + 1], nextgap[j + 1] + 1
    end
  end
  c.nextset, c.nextgap = nextset, nextgap
  -- For each k where the items from k on are captures, at most one single-char item with
  -- '*' or '-' (set X), captures, then '$': match(p, k) succeeds exactly when all bytes
  -- from p to the end are in X (EMPTY without such an item: when p is the end).
  -- tailgap: the depth that success adds (captures and the quantifier).
  local tailset, tailgap = {}, {}
  local j = n
  if kind[j] == K_END then
    local gap, x = 0, EMPTY
    j = j - 1
    while j >= 1 do
      local kd = kind[j]
      if kd == K_OPEN or kd == K_POS or kd == K_CLOSE then
        gap = gap + 1
      elseif x == EMPTY and kd == K_SINGLE and (suf[j] == Q_STAR or suf[j] == Q_MIN) then
        x = set[j]
        gap = gap + 1
      else
        break
      end
      tailset[j], tailgap[j] = x, gap
      j = j - 1
    end
  end
  c.tailset, c.tailgap = tailset, tailgap
  -- A start position can match only where that item for k = 1 matches (its captures
  -- cannot raise: at most 32 of them, far from the depth limit).
  c.first = nextset[1]
  c.anchored = start == 2
  -- Whether C cannot raise an error on this pattern (with valid arguments): no error
  -- item, no capture left unfinished, and a depth that cannot reach MAXCCALLS (each
  -- capture and quantifier adds at most one level).
  local levels = 1
  local safe = not errmsg
  for l = 1, level do
    if capstate[l] == CAP_UNFINISHED then
      safe = false
    end
  end
  for j = 1, n do
    if kind[j] ~= K_SINGLE or suf[j] ~= Q_NONE then
      levels = levels + 1
    end
  end
  c.safe = safe and levels <= MAXCCALLS
  c.nospecials = nospecials(P)
  bound(c)
  return c
end

-- Compiled patterns, by pattern string: anchored ('^' stripped; for find/match/gsub) and
-- as is (for gmatch, where '^' matches itself). Weak values: dropped at the next GC.
local cache_anchor = setmetatable({}, { __mode = "v" })
local cache_gmatch = setmetatable({}, { __mode = "v" })

local function compiled(P)
  local c = cache_anchor[P]
  if not c then
    if byte(P, 1) == 94 then
      c = compile(P, 2)
    else
      c = cache_gmatch[P] or compile(P, 1)
      cache_gmatch[P] = c
    end
    cache_anchor[P] = c
  end
  return c
end

local function compiled_gmatch(P)
  local c = cache_gmatch[P]
  if not c then
    c = compile(P, 1)
    cache_gmatch[P] = c
  end
  return c
end

---------------------------------------------------------------------------------------
-- Matching.

-- The complement of set t, cached.
local COMPLEMENT = setmetatable({}, { __mode = "k" })
local function complement(t)
  local u = COMPLEMENT[t]
  if not u then
    u = {}
    for c = 0, 255 do
      if not t[c] then
        u[c] = true
      end
    end
    COMPLEMENT[t] = u
  end
  return u
end

-- The first position >= i whose byte is in t (a position > #S if none).
local function skip(t, S, i)
  while true do
    local b1, b2, b3, b4, b5, b6, b7, b8 = byte(S, i, i + 7)
    if t[b1] then
      return i
    elseif t[b2] then
      return i + 1
    elseif t[b3] then
      return i + 2
    elseif t[b4] then
      return i + 3
    elseif t[b5] then
      return i + 4
    elseif t[b6] then
      return i + 5
    elseif t[b7] then
      return i + 6
    elseif t[b8] then
      return i + 7
    elseif not b8 then
      return i + 8
    end
    i = i + 8
  end
end

-- The first position >= i whose byte is not in t (at most #S + 1).
local function span(t, S, i)
  while true do
    local b1, b2, b3, b4, b5, b6, b7, b8 = byte(S, i, i + 7)
    if not t[b1] then
      return i
    elseif not t[b2] then
      return i + 1
    elseif not t[b3] then
      return i + 2
    elseif not t[b4] then
      return i + 3
    elseif not t[b5] then
      return i + 4
    elseif not t[b6] then
      return i + 5
    elseif not t[b7] then
      return i + 6
    elseif not t[b8] then
      return i + 7
    end
    i = i + 8
  end
end

-- The last position <= i and >= lo whose byte is in t (lo - 1 if none).
local function rskip(t, S, i, lo)
  while i - 7 >= lo do
    local b1, b2, b3, b4, b5, b6, b7, b8 = byte(S, i - 7, i)
    if t[b8] then
      return i
    elseif t[b7] then
      return i - 1
    elseif t[b6] then
      return i - 2
    elseif t[b5] then
      return i - 3
    elseif t[b4] then
      return i - 4
    elseif t[b3] then
      return i - 5
    elseif t[b2] then
      return i - 6
    elseif t[b1] then
      return i - 7
    end
    i = i - 8
  end
  while i >= lo and not t[byte(S, i)] do
    i = i - 1
  end
  return i
end

-- A matcher for compiled pattern `c` on subject S (#S = N): match(s, k, depth) is
-- lstrlib.c's match(ms, s, p) with s a 1-based position, k an item index and depth the
-- number of nested calls; it returns the end position (exclusive) or nil. Capture l
-- starts at cinit[l] and is clen[l] bytes long. The C code's tail calls (`goto init`,
-- and the calls whose result start_capture/end_capture return as is) are the loop,
-- counting depth where C recursed; its other recursion ('?', '*', '+', '-') is
-- recursion here, so "pattern too complex" comes at the same point.
--
-- Where C calls match(rest) for many positions (max_expand, min_expand) and the rest
-- starts (after captures) with an item that must match a byte, positions where that byte
-- does not match are not tried: C's call would fail at once there, unless it would raise
-- "pattern too complex" on the way, which the depth test keeps exact.
local function matcher(c, S, N)
  local kind, set, suf, arg, arg2, n = c.kind, c.set, c.suf, c.arg, c.arg2, c.n
  local nextset, nextgap, tailset, tailgap = c.nextset, c.nextgap, c.tailset, c.tailgap
  local cinit, clen = {}, {}
  -- The start of the subject's longest suffix whose bytes are all in tailset (per set).
  local tailstart = {}
  local function tail_from(x)
    local q = tailstart[x]
    if not q then
      q = x == EMPTY and N + 1 or rskip(complement(x), S, N, 1) + 1
      tailstart[x] = q
    end
    return q
  end
  local match
  match = function(s, k, depth)
    if depth > MAXCCALLS then
      raise("pattern too complex")
    end
    while k <= n do
      local kd = kind[k]
      if kd == K_SINGLE then
        local t, q = set[k], suf[k]
        if not t[byte(S, s)] then
          if q == Q_NONE or q == Q_PLUS then
            return nil
          end
          k = k + 1 -- '*', '?', '-' accept zero repetitions
        elseif q == Q_NONE then
          s = s + 1
          k = k + 1
        elseif q == Q_STAR or q == Q_PLUS then -- max_expand
          local i = s + 1
          if t[byte(S, i)] then
            i = span(t, S, i + 1)
          end
          if q == Q_PLUS then
            s = s + 1
          end
          k = k + 1
          depth = depth + 1
          if k > n and depth <= MAXCCALLS then
            return i -- what match(i, k, depth) would return
          end
          local x = tailset[k]
          if x and depth + tailgap[k] <= MAXCCALLS then
            -- The rest succeeds from position tail_from(x) on, and fails before it.
            if i >= tail_from(x) then
              return match(i, k, depth)
            end
            return nil
          end
          local nt = nextset[k]
          if nt and depth + nextgap[k] <= MAXCCALLS then
            while true do
              i = rskip(nt, S, i, s)
              if i < s then
                return nil
              end
              local r = match(i, k, depth)
              if r then
                return r
              end
              i = i - 1
            end
          else
            while i >= s do
              local r = match(i, k, depth)
              if r then
                return r
              end
              i = i - 1
            end
          end
          return nil
        elseif q == Q_MIN then -- min_expand
          k = k + 1
          depth = depth + 1
          local x = tailset[k]
          if x and depth + tailgap[k] <= MAXCCALLS then
            -- C tries s, s+1, ... up to the first byte not in t (included); the rest
            -- succeeds from position tail_from(x) on, and fails before it.
            local q = tail_from(x)
            if q < s then
              q = s
            end
            if q > (t == ANY and N + 1 or span(t, S, s + 1)) then
              return nil
            end
            return match(q, k, depth)
          end
          local nt = nextset[k]
          if nt and depth + nextgap[k] <= MAXCCALLS then
            -- C tries s, s+1, ... up to the first byte not in t (included).
            local limit = t == ANY and N + 1 or span(t, S, s + 1)
            while true do
              s = skip(nt, S, s)
              if s > limit then
                return nil
              end
              local r = match(s, k, depth)
              if r then
                return r
              end
              s = s + 1
            end
          end
          while true do
            local r = match(s, k, depth)
            if r then
              return r
            end
            if t[byte(S, s)] then
              s = s + 1
            else
              return nil
            end
          end
        else -- '?'
          local r = match(s + 1, k + 1, depth + 1)
          if r then
            return r
          end
          k = k + 1
        end
      elseif kd == K_OPEN or kd == K_POS then -- start_capture
        cinit[arg[k]] = s
        k = k + 1
        depth = depth + 1
        if depth > MAXCCALLS then
          raise("pattern too complex")
        end
      elseif kd == K_CLOSE then -- end_capture
        local l = arg[k]
        clen[l] = s - cinit[l]
        k = k + 1
        depth = depth + 1
        if depth > MAXCCALLS then
          raise("pattern too complex")
        end
      elseif kd == K_END then
        if s == N + 1 then
          return s
        end
        return nil
      elseif kd == K_BAL then -- matchbalance
        local b, e = arg[k], arg2[k]
        if (byte(S, s) or 0) ~= b then
          return nil
        end
        local cont = 1
        local found = false
        s = s + 1
        while s <= N do
          local ch = byte(S, s)
          s = s + 1
          if ch == e then
            cont = cont - 1
            if cont == 0 then
              found = true
              break
            end
          elseif ch == b then
            cont = cont + 1
          end
        end
        if not found then
          return nil
        end
        k = k + 1
      elseif kd == K_FRONT then
        local t = set[k]
        if s == 1 then
          if t[0] or not t[byte(S, 1) or 0] then
            return nil
          end
        elseif t[byte(S, s - 1)] or not t[byte(S, s) or 0] then
          return nil
        end
        k = k + 1
      elseif kd == K_BACKREF then -- match_capture
        local l = arg[k]
        local len = clen[l]
        if len > 0 then
          if N + 1 - s < len then
            return nil
          end
          local init = cinit[l]
          if sub(S, s, s + len - 1) ~= sub(S, init, init + len - 1) then
            return nil
          end
          s = s + len
        end
        k = k + 1
      elseif kd == K_FAIL then
        return nil
      else -- K_ERR
        raise(arg[k])
      end
    end
    return s
  end
  return match, cinit, clen
end

-- Capture l (1-based) of a successful match, as C's get_onecapture.
local function capture(c, S, cinit, clen, l)
  if c.unfinished[l] then
    raise("unfinished capture")
  end
  local init = cinit[l]
  if c.position[l] then
    return init
  end
  return sub(S, init, init + clen[l] - 1)
end

-- All captures of a match at s..e-1 (the whole match if there are none and `whole`).
local function captures(c, S, cinit, clen, s, e, whole)
  local ncap = c.ncap
  if ncap == 0 then
    if whole then
      return sub(S, s, e - 1)
    end
    return
  elseif ncap == 1 then
    return capture(c, S, cinit, clen, 1)
  elseif ncap == 2 then
    return capture(c, S, cinit, clen, 1), capture(c, S, cinit, clen, 2)
  end
  local t = {}
  for l = 1, ncap do
    t[l] = capture(c, S, cinit, clen, l)
  end
  return unpack(t, 1, ncap)
end

-- lstrlib.c's lmemfind, from position init: the start of P in S, or nil.
local function plain_find(S, N, P, init)
  local m = #P
  if m == 0 then
    return init
  end
  local first, last = char_set(byte(P, 1)), byte(P, m)
  local i, stop = init, N - m + 1
  while true do
    i = skip(first, S, i)
    if i > stop then
      return nil
    end
    if byte(S, i + m - 1) == last and sub(S, i, i + m - 1) == P then
      return i
    end
    i = i + 1
  end
end

---------------------------------------------------------------------------------------
-- Arguments, checked as lauxlib does.

local function typename(v)
  local t = type(v)
  if t == "table" or t == "userdata" then
    local mt = getmetatable(v)
    if type(mt) == "table" then
      local name = rawget(mt, "__name")
      if type(name) == "string" then
        return name
      end
    end
  end
  return t
end

local function argerror(i, fname, msg)
  raise("bad argument #" .. i .. " to '" .. fname .. "' (" .. msg .. ")")
end

local function typeerror(i, fname, expected, v, nargs)
  argerror(i, fname, expected .. " expected, got " .. (i > nargs and "no value" or typename(v)))
end

local function checkstring(v, i, fname, nargs)
  local t = type(v)
  if t == "string" then
    return v
  elseif t == "number" then
    return tostring(v)
  end
  typeerror(i, fname, "string", v, nargs)
end

local function optinteger(v, i, fname, default, nargs)
  if v == nil then
    return default
  end
  local num = v
  if type(v) == "string" then
    num = tonumber(v)
  end
  if type(num) == "number" then
    local int = tointeger(num)
    if int then
      return int
    end
    argerror(i, fname, "number has no integer representation")
  end
  typeerror(i, fname, "number", v, nargs)
end

-- lstrlib.c's posrelatI.
local function posrelat(pos, len)
  if pos > 0 then
    return pos
  elseif pos == 0 or pos < -len then
    return 1
  end
  return len + pos + 1
end

---------------------------------------------------------------------------------------
-- The functions. Each has an argument check (raising like lauxlib), and a worker on
-- checked arguments.

local function find_args(fname, nargs, S, P, init, plain)
  S = checkstring(S, 1, fname, nargs)
  P = checkstring(P, 2, fname, nargs)
  init = posrelat(optinteger(init, 3, fname, 1, nargs), #S)
  return S, P, init, plain
end

-- lstrlib.c's str_find_aux.
local function find_work(isfind, S, P, init, plain)
  local N = #S
  if init > N + 1 then -- start after string's end?
    return nil
  end
  if isfind and (plain or nospecials(P)) then
    local i = plain_find(S, N, P, init)
    if i then
      return i, i + #P - 1
    end
    return nil
  end
  local c = compiled(P)
  local match, cinit, clen = matcher(c, S, N)
  local s1 = init
  local first = c.first
  if c.anchored then
    first = nil
  end
  while true do
    if first then
      s1 = skip(first, S, s1)
      if s1 > N then
        return nil
      end
    end
    local e = match(s1, 1, 1)
    if e then
      if isfind then
        return s1, e - 1, captures(c, S, cinit, clen, s1, e, false)
      end
      return captures(c, S, cinit, clen, s1, e, true)
    end
    if s1 > N or c.anchored then
      return nil
    end
    s1 = s1 + 1
  end
end

local function find_impl(...)
  local S, P, init, plain = find_args("find", select("#", ...), ...)
  return find_work(true, S, P, init, plain)
end

local function match_impl(...)
  local S, P, init = find_args("match", select("#", ...), ...)
  return find_work(false, S, P, init)
end

local function gmatch_args(nargs, S, P, init)
  S = checkstring(S, 1, "gmatch", nargs)
  P = checkstring(P, 2, "gmatch", nargs)
  local N = #S
  init = posrelat(optinteger(init, 3, "gmatch", 1, nargs), N)
  if init > N + 1 then -- start after string's end?
    init = N + 2
  end
  return S, P, init
end

-- lstrlib.c's gmatch_aux, as a closure that raises tagged errors. '^' is not an anchor.
local function gmatch_work(S, P, init)
  local N = #S
  local c = compiled_gmatch(P)
  local m, cinit, clen = matcher(c, S, N)
  local first = c.first
  local src, lastmatch = init, nil
  return function()
    local s1 = src
    while s1 <= N + 1 do
      if first then
        s1 = skip(first, S, s1)
        if s1 > N then
          return
        end
      end
      local e = m(s1, 1, 1)
      if e and e ~= lastmatch then
        src, lastmatch = e, e
        return captures(c, S, cinit, clen, s1, e, true)
      end
      s1 = s1 + 1
    end
  end
end

-- The replacement string `R` as a list of pieces: strings, capture numbers 0-9 (0: the
-- whole match), or {message} for what C raises when it reaches that point of `R`.
local function parse_repl(R, c)
  local pieces, np = {}, 0
  local len = #R
  local from = 1
  local i = 1
  while i <= len do
    if byte(R, i) == 37 then -- '%'
      if i > from then
        np = np + 1
        pieces[np] = sub(R, from, i - 1)
      end
      local d = byte(R, i + 1)
      np = np + 1
      if d == 37 then
        pieces[np] = "%"
      elseif d and d >= 48 and d <= 57 then
        d = d - 48
        if d == 0 then
          pieces[np] = 0
        elseif d > c.ncap then
          pieces[np] = d == 1 and 0 or { "invalid capture index %" .. d }
        elseif c.unfinished[d] then
          pieces[np] = { "unfinished capture" }
        else
          pieces[np] = d
        end
      else
        pieces[np] = { "invalid use of '%' in replacement string" }
      end
      i = i + 2
      from = i
    else
      i = i + 1
    end
  end
  if from <= len then
    np = np + 1
    pieces[np] = sub(R, from, len)
  end
  return pieces, np
end

local REPL_TYPES = { string = true, number = true, ["function"] = true, table = true }

local function gsub_args(nargs, S, P, R, max_s)
  S = checkstring(S, 1, "gsub", nargs)
  P = checkstring(P, 2, "gsub", nargs)
  max_s = optinteger(max_s, 4, "gsub", #S + 1, nargs)
  if not REPL_TYPES[type(R)] then
    typeerror(3, "gsub", "string/function/table", R, nargs)
  end
  return S, P, R, max_s
end

-- lstrlib.c's str_gsub (with add_s and add_value).
local function gsub_work(S, P, R, max_s)
  local N = #S
  local tr = type(R)
  local c = compiled(P)
  local match, cinit, clen = matcher(c, S, N)
  local anchor, first = c.anchored, c.first
  local ncap = c.ncap
  if anchor then
    first = nil
  end
  local pieces, np -- parsed string replacement, at the first match
  local plain_repl -- the replacement when it has no '%'
  if tr == "number" then
    R = tostring(R)
    tr = "string"
  end
  local buf, nb = {}, 0
  local copied = 1 -- S[copied .. src-1] is still to be copied to buf
  local changed = false
  local n = 0
  local src, lastmatch = 1, nil
  while n < max_s do
    if first then
      src = skip(first, S, src)
      if src > N then
        break
      end
    end
    local e = match(src, 1, 1)
    if e and e ~= lastmatch then
      n = n + 1
      local value
      if tr == "string" then
        if not pieces then
          pieces, np = parse_repl(R, c)
          if np == 0 then
            plain_repl = ""
          elseif np == 1 and type(pieces[1]) == "string" then
            plain_repl = pieces[1]
          end
        end
        if src > copied then
          nb = nb + 1
          buf[nb] = sub(S, copied, src - 1)
        end
        if plain_repl then
          nb = nb + 1
          buf[nb] = plain_repl
        else
          for i = 1, np do
            local piece = pieces[i]
            local pt = type(piece)
            if pt == "number" then
              if piece == 0 then
                piece = sub(S, src, e - 1)
              else
                piece = capture(c, S, cinit, clen, piece)
                if type(piece) == "number" then
                  piece = tostring(piece)
                end
              end
            elseif pt == "table" then
              raise(piece[1])
            end
            nb = nb + 1
            buf[nb] = piece
          end
        end
        copied = e
        changed = true
      else
        if tr == "function" then
          value = R(captures(c, S, cinit, clen, src, e, true))
        elseif ncap == 0 then
          value = R[sub(S, src, e - 1)]
        else
          value = R[capture(c, S, cinit, clen, 1)]
        end
        if value then -- nil or false keeps the original text
          local vt = type(value)
          if vt == "number" then
            value = tostring(value)
          elseif vt ~= "string" then
            raise("invalid replacement value (a " .. vt .. ")")
          end
          if src > copied then
            nb = nb + 1
            buf[nb] = sub(S, copied, src - 1)
          end
          nb = nb + 1
          buf[nb] = value
          copied = e
          changed = true
        end
      end
      src, lastmatch = e, e
    elseif src <= N then
      src = src + 1
    else
      break
    end
    if anchor then
      break
    end
  end
  if not changed then
    return S, n -- (C returns its argument 1, which luaL_checklstring made a string)
  end
  if copied <= N then
    nb = nb + 1
    buf[nb] = sub(S, copied, N)
  end
  return concat(buf, "", 1, nb), n
end

local function gsub_impl(...)
  return gsub_work(gsub_args(select("#", ...), ...))
end

-- The public functions' boundary: returns the results, or raises the error. Tail-called
-- by the public functions, so level 2 is their caller.
local function finish(ok, ...)
  if ok then
    return ...
  end
  local e = ...
  if type(e) == "table" and rawequal(rawget(e, 1), TAG) then
    error(e[2], 2)
  end
  error(e, 0) -- from a replacement function or metamethod, or the host: as is
end

local function find(...)
  return finish(pcall(find_impl, ...))
end

local function match(...)
  return finish(pcall(match_impl, ...))
end

local function gmatch_impl(...)
  local step = gmatch_work(gmatch_args(select("#", ...), ...))
  return function()
    return finish(pcall(step))
  end
end

local function gmatch(...)
  return finish(pcall(gmatch_impl, ...))
end

local function gsub(...)
  return finish(pcall(gsub_impl, ...))
end

---------------------------------------------------------------------------------------
-- When the C functions are cheap.

-- Whether C's plain search (lmemfind) for an m-byte string in an n-byte one is cheap: it
-- compares at most n - m + 1 candidate positions, each with a memcmp of up to m bytes
-- (about m/16 steps), plus a memchr pass: max(0, n - m + 1) * (1 + m/16) + n + 1.
local function plain_cheap(n, m)
  local positions = n - m + 1
  if positions < 0 then
    positions = 0
  end
  local work = positions * (1 + m / 16)
  return work <= LINEAR * (n + 1) or work + n + 1 <= BUDGET
end

-- cost_bound(s, p, plain, fname): true if the C function called as
-- `string.<fname>(s, p, ..., plain)` provably does at most about BUDGET steps of work,
-- or at most LINEAR steps per subject byte, so it may run without preemption.
-- `plain`: find's 4th argument. `fname`: "find", "match", "gmatch" or "gsub"; optional:
-- nil assumes the worst of them (no anchor, no plain search for special-free
-- patterns, which only find does). Arguments that are not strings or numbers give true:
-- C then raises its own argument error. A gsub's replacement work (output size, calls
-- of a replacement function) is not counted (`hybrid` checks the output size).
--
-- The bound, with n = #s, m = #p, N = n + 1:
-- * plain search (find with `plain`, or a pattern without special characters): see
--   `plain_cheap`.
-- * pattern matching: C's `match` is tried at up to N start positions (1 when
--   anchored). `bound` (above) computes the worst-case work as a polynomial in N: a
--   single-char item costs 1 step (a set: its number of elements), `%b` and
--   back-references up to N, and each quantifier (`*`, `+`, `-`, `?`) followed by
--   something that can fail multiplies the rest's work by N (by 2 for `?`), because C
--   retries the rest after every repetition count. A quantifier followed only by
--   things that cannot fail (captures, other such quantifiers, the end) multiplies
--   nothing: the first try of the rest succeeds. So ".-.-.-b" is O(N^4),
--   "(%d+)-(%d+)" O(N^2) (as it really is on "1111..."), "%s+" or "[^,]*" O(N). This
--   is `#s ^ (q + 1) * #p` with q counting only the quantifiers that can backtrack
--   (and `%b`, back-references), and per-item costs in place of the #p factor.
-- Cheap: a linear bound of at most LINEAR * N, or any bound of at most BUDGET.
local function cost_bound(s, p, plain, fname)
  local ts, tp = type(s), type(p)
  if ts == "number" then
    s = tostring(s)
  elseif ts ~= "string" then
    return true
  end
  if tp == "number" then
    p = tostring(p)
  elseif tp ~= "string" then
    return true
  end
  if fname == "find" or fname == nil then
    if plain or (fname == "find" and nospecials(p)) then
      return plain_cheap(#s, #p)
    end
  end
  local c
  if fname == "find" or fname == "match" or fname == "gsub" then
    c = compiled(p)
  else
    c = compiled_gmatch(p)
  end
  return #s + 1 <= c.limitN
end

---------------------------------------------------------------------------------------
-- Using C when it is cheap.

-- Results of a C pattern function called with pcall: its errors (luaL_error messages,
-- which carry no position when the caller is pcall) become this file's errors, so the
-- public boundary adds the position of the script's line as C would have.
local function c_result(ok, ...)
  if ok then
    return ...
  end
  local e = ...
  if type(e) == "string" and e ~= "not enough memory" then
    raise(e)
  end
  error(e, 0)
end

-- Whether gsub's C replacement work is cheap and raises no error: the output is at most
-- about #s * (#R + 1) bytes plus #s per capture reference, and R has no invalid '%'.
local function repl_cheap(c, N, R)
  if type(R) == "number" then
    return true
  end
  if #R > LINEAR and N * #R > BUDGET then
    return false
  end
  local valid = c.repl_ok[R]
  if valid == nil then
    valid = true
    local pieces, np = parse_repl(R, c)
    for i = 1, np do
      if type(pieces[i]) == "table" then
        valid = false
      end
    end
    if c.repl_count >= 64 then
      c.repl_ok, c.repl_count = {}, 0
    end
    c.repl_ok[R] = valid
    c.repl_count = c.repl_count + 1
  end
  return valid
end

-- hybrid(native): find, match, gmatch and gsub that call the C functions in `native`
-- (a table with the original `string.find`, `match`, `gmatch`, `gsub`) when
-- `cost_bound` says they are cheap, and this file's otherwise. Results and errors are
-- the same either way: argument errors name 'find', 'match', ... as a call
-- `string.find(...)` does; errors point at the caller's line (when called, or
-- tail-called by a wrapper, from Lua code).
-- gsub with a function or table replacement always runs here, in Lua: called from C,
-- the replacement function (or an __index metamethod) could neither be preempted nor
-- wait (yield), and its work is unbounded.
-- Fast path: plain arguments (strings, integer or absent numbers) and an already
-- compiled pattern on which C cannot raise go to C without any wrapping, so small calls
-- cost about twice C's.
local function hybrid(native)
  local cfind, cmatch, cgmatch, cgsub = native.find, native.match, native.gmatch, native.gsub

  local function find_h(...)
    local S, P, init, plain = find_args("find", select("#", ...), ...)
    if cost_bound(S, P, plain, "find") then
      return c_result(pcall(cfind, S, P, init, plain))
    end
    return find_work(true, S, P, init, plain)
  end

  local function match_h(...)
    local S, P, init = find_args("match", select("#", ...), ...)
    if cost_bound(S, P, nil, "match") then
      return c_result(pcall(cmatch, S, P, init))
    end
    return find_work(false, S, P, init)
  end

  local function gmatch_h(...)
    local S, P, init = gmatch_args(select("#", ...), ...)
    if cost_bound(S, P, nil, "gmatch") then
      -- The C iterator, called by the script's `for`: its errors are C's own.
      return cgmatch(S, P, init)
    end
    local step = gmatch_work(S, P, init)
    return function()
      return finish(pcall(step))
    end
  end

  local function gsub_h(...)
    local S, P, R, max_s = gsub_args(select("#", ...), ...)
    local tr = type(R)
    if tr ~= "function" and tr ~= "table" and cost_bound(S, P, nil, "gsub") then
      if repl_cheap(compiled(P), #S + 1, R) then
        return c_result(pcall(cgsub, S, P, R, max_s))
      end
    end
    return gsub_work(S, P, R, max_s)
  end

  local function find(...)
    local S, P, init, plain = ...
    if type(S) == "string" and type(P) == "string" and (init == nil or mtype(init) == "integer") then
      if plain then
        if plain_cheap(#S, #P) then
          return cfind(S, P, init, plain)
        end
      else
        local c = cache_anchor[P]
        if c and c.safe then
          if c.nospecials then
            if plain_cheap(#S, #P) then
              return cfind(S, P, init)
            end
          elseif #S + 1 <= c.limitN then
            return cfind(S, P, init)
          end
        end
      end
    end
    return finish(pcall(find_h, ...))
  end

  local function match(...)
    local S, P, init = ...
    if type(S) == "string" and type(P) == "string" and (init == nil or mtype(init) == "integer") then
      local c = cache_anchor[P]
      if c and c.safe and #S + 1 <= c.limitN then
        return cmatch(S, P, init)
      end
    end
    return finish(pcall(match_h, ...))
  end

  local function gmatch(...)
    local S, P, init = ...
    if type(S) == "string" and type(P) == "string" and (init == nil or mtype(init) == "integer") then
      local c = cache_gmatch[P]
      if c and c.safe and #S + 1 <= c.limitN then
        return cgmatch(S, P, init)
      end
    end
    return finish(pcall(gmatch_h, ...))
  end

  local function gsub(...)
    local S, P, R, max_s = ...
    local tr = type(R)
    if
      (tr == "string" or tr == "number")
      and type(S) == "string"
      and type(P) == "string"
      and (max_s == nil or mtype(max_s) == "integer")
    then
      local c = cache_anchor[P]
      if c and c.safe and #S + 1 <= c.limitN and repl_cheap(c, #S + 1, R) then
        return cgsub(S, P, R, max_s)
      end
    end
    return finish(pcall(gsub_h, ...))
  end

  return { find = find, match = match, gmatch = gmatch, gsub = gsub }
end

return {
  find = find,
  match = match,
  gmatch = gmatch,
  gsub = gsub,
  cost_bound = cost_bound,
  hybrid = hybrid,
}
