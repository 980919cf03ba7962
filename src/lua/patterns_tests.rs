//! `patterns.lua` (the pure-Lua `string.find`/`match`/`gmatch`/`gsub`) against Lua's own
//! C functions: a table of tricky cases, a randomized differential test, the cost bound,
//! and the reason it exists: the count hook interrupts it where it cannot interrupt C.
//!
//! Every comparison runs the same call through three implementations: `C` (the `string`
//! library), `L` (patterns.lua) and `H` (`patterns.hybrid(string)`, which picks one of
//! them per call), and compares everything a script can see: the values with their
//! types, or the error message including its position prefix. The randomized test takes
//! `PATTERNS_SEED` and `PATTERNS_CASES` from the environment.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Function, HookTriggers, Lua, MultiValue, Table, Value, VmState};

/// Loads patterns.lua into `lua` as the global `P`, and the comparison harness.
fn setup() -> Lua {
    let lua = Lua::new();
    let patterns: Table = lua
        .load(include_str!("patterns.lua"))
        .set_name("=patterns")
        .eval()
        .expect("patterns.lua loads");
    lua.globals().set("P", patterns).unwrap();
    lua.load(HARNESS).set_name("=harness").exec().unwrap();
    lua
}

/// The comparison harness. `CALL.<fname>(impl, ...)` calls `impl.<fname>(...)` (never as a
/// tail call, so a C function and a Lua one report errors at the same line); gmatch
/// collects the iterator's results. `compare(cases)` runs each case through C, L and H
/// and returns a description of every difference.
const HARNESS: &str = r#"
local pack, unpack, concat = table.pack, table.unpack, table.concat
H = P.hybrid(string)
IMPLS = { { "C", string }, { "L", P }, { "H", H } }

function show_value(v)
  local t = type(v)
  if t == "string" then
    return string.format("%q", v)
  elseif t == "number" then
    return math.type(v) .. " " .. tostring(v)
  end
  return tostring(v)
end

-- r = pack(pcall(...))
function show(r)
  local parts = {}
  for i = 2, r.n do
    parts[#parts + 1] = show_value(r[i])
  end
  return (r[1] and "ok(" or "error(") .. concat(parts, ", ") .. ")"
end

CALL = {}
function CALL.find(impl, ...) local r = pack(impl.find(...)) return unpack(r, 1, r.n) end
function CALL.match(impl, ...) local r = pack(impl.match(...)) return unpack(r, 1, r.n) end
function CALL.gsub(impl, ...) local r = pack(impl.gsub(...)) return unpack(r, 1, r.n) end
function CALL.gmatch(impl, ...)
  local it = impl.gmatch(...)
  local out = {}
  for _ = 1, 200 do
    local r = pack(it())
    out[#out + 1] = show({ true, n = r.n + 1, unpack(r, 1, r.n) })
    if r.n == 0 or r[1] == nil then
      break
    end
  end
  return concat(out, " ")
end

-- Replacement values for gsub (the random cases name them).
REPL = {
  concat = function(...)
    local t = pack(...)
    for i = 1, t.n do
      t[i] = show_value(t[i])
    end
    return "<" .. concat(t, "|", 1, t.n) .. ">"
  end,
  keep = function() return false end,
  some = function(a)
    if a == "a" or a == 1 then
      return nil
    end
    return 7
  end,
  bad = function(a)
    if a == "b" then
      return {}
    end
    return "x"
  end,
  tbl = { a = "A", b = false, ["("] = 1.5, [1] = "one", [2] = "two", [" "] = "_", [""] = "E" },
}

-- A case: { fname, args..., n = number of args (default: all), repl = REPL key for arg 3 }.
function describe(c)
  local parts = {}
  for i = 2, c.n and c.n + 1 or #c do
    parts[#parts + 1] = (i == 4 and c.repl) and ("REPL." .. c.repl) or show_value(c[i])
  end
  return c[1] .. "(" .. concat(parts, ", ") .. ")"
end

function run(c, impl)
  local n = c.n or (#c - 1)
  local args = { n = n }
  for i = 1, n do
    args[i] = c[i + 1]
  end
  if c.repl then
    args[3] = REPL[c.repl]
  end
  return show(pack(pcall(CALL[c[1]], impl, unpack(args, 1, n))))
end

function compare(cases)
  local diffs = {}
  for _, c in ipairs(cases) do
    local want = run(c, string)
    for i = 2, #IMPLS do
      local got = run(c, IMPLS[i][2])
      if got ~= want then
        diffs[#diffs + 1] = describe(c) .. "\n    C: " .. want .. "\n    " .. IMPLS[i][1] .. ": " .. got
      end
    end
  end
  return diffs
end
"#;

/// Hand-written cases: every feature, quirk and error of lstrlib.c's matcher.
const TRICKY: &str = r#"
local ALL = {}
for i = 0, 255 do ALL[#ALL + 1] = string.char(i) end
ALL = table.concat(ALL)
-- CHAIN(k): k optional items "x?" that each match one byte of SUBJECT(k) in one way
-- only, so that they reach depth k + 1 without exponential backtracking.
local function CHAIN(k)
  local t = {}
  for b = 1, k do
    local c = string.char(b + 32)
    t[#t + 1] = (c:find("%w") and c or "%" .. c) .. "?"
  end
  return table.concat(t)
end
local function SUBJECT(k, tail)
  local t = {}
  for b = 1, k do t[#t + 1] = string.char(b + 32) end
  return table.concat(t) .. tail
end
local cases = {
  -- find / match basics
  { "find", "hello world", "o w" }, { "find", "hello world", "o", 6 }, { "find", "hello", "l+" },
  { "find", "hello", "(h)(e)" }, { "find", "hello", "()ll()" }, { "match", "hello", "()ll()" },
  { "match", "key = value", "(%w+)%s*=%s*(%w+)" }, { "match", "hello", "xyz" }, { "match", "", "" },
  { "find", "", "" }, { "match", "abc", "" }, { "find", "abc", "" },
  -- init
  { "find", "abc", "b", -1 }, { "find", "abc", "b", -2 }, { "find", "abc", "b", -10 },
  { "find", "abc", "", 3 }, { "find", "abc", "", 4 }, { "find", "abc", "", 5 }, { "find", "abc", "", 0 },
  { "find", "abc", "c", 3 }, { "find", "abc", "^b", 2 }, { "match", "abc", "^b", 2 },
  { "match", "abc", "()", 4 }, { "match", "abc", "()", 5 }, { "match", "abc", ".", -1 },
  { "find", "abc", "b", math.maxinteger }, { "find", "abc", "b", math.mininteger },
  { "find", "abc", "b", "2" }, { "find", "abc", "b", " 0x2 " }, { "find", "abc", "b", 2.0 },
  { "find", "abc", "b", 1.5 }, { "find", "abc", "b", "1.5" }, { "find", "abc", "b", "x" },
  { "find", "abc", "b", {} }, { "match", "abc", "b", 2^63 }, { "find", "abc", "b", nil, n = 3 },
  -- plain
  { "find", "a.b", ".", 1, true }, { "find", "a+b", "+", 1, 1 }, { "find", "a+b", "a+", 1, false },
  { "find", "x", "", 1, true }, { "find", "aaa", "aa", 2, true }, { "find", "abc", "c", -1, true },
  { "find", "abc", "abcd", 1, true }, { "find", "abc", "", 10, true }, { "find", "a%b", "%", 1, "yes" },
  { "find", "abcabc", "ca" }, { "match", "abcabc", "ca" }, { "find", "ab\0cab\0c", "b\0c", 3 },
  { "find", "x(y", "(", 1, true }, { "find", "x[y", "[", 1, true },
  -- anchors
  { "find", "abc", "^a" }, { "find", "abc", "^b" }, { "find", "abc", "c$" }, { "find", "abc", "b$" },
  { "find", "a$c", "$c" }, { "find", "a$", "$$" }, { "find", "a^b", "a^b" }, { "find", "", "^$" },
  { "find", "", "$" }, { "find", "abc", "$" }, { "match", "abc", "^(a)(b)$" }, { "match", "^", "^^" },
  { "gsub", "aaa", "^a", "x" }, { "gsub", "^a^a", "^a", "x" }, { "gmatch", "^a^a", "^a" },
  { "match", "a$$", "a$*" }, { "find", "ab", "^" }, { "gsub", "ab", "^", "-" }, { "gsub", "ab", "$", "-" },
  -- quantifiers
  { "match", "aaab", "a-b" }, { "match", "aaa", "a-" }, { "match", "aaa", "a-$" }, { "match", "aaa", "a*" },
  { "match", "", "a*" }, { "match", "baaa", "a*" }, { "match", "aaa", "a+?" }, { "match", "ab", "a?b?c?" },
  { "match", "aab", "^a?a?b" }, { "match", "xyz", "x*y+z?" }, { "find", "a-b", "a-b" },
  { "match", "aaa", "^(a-)(a+)$" }, { "match", "aaa", "(a*)(a*)" }, { "match", "aaa", "(a-)(a-)$" },
  { "match", "abab", "(.-)b" }, { "match", "abab", "(.*)b" }, { "find", "*+?", "*+?" },
  { "match", "-a-", "%-a-" }, { "match", "a", "a**" }, { "match", "a*", "a**" }, { "match", "??", "??" },
  { "match", "aaaa", ".-$" }, { "match", "ab\ncd", "^(.-)\n" }, { "match", "  trim  ", "^%s*(.-)%s*$" },
  -- classes, by all 256 bytes
  { "gsub", ALL, "%a", "" }, { "gsub", ALL, "%A", "" }, { "gsub", ALL, "%c", "" }, { "gsub", ALL, "%C", "" },
  { "gsub", ALL, "%d", "" }, { "gsub", ALL, "%D", "" }, { "gsub", ALL, "%g", "" }, { "gsub", ALL, "%G", "" },
  { "gsub", ALL, "%l", "" }, { "gsub", ALL, "%L", "" }, { "gsub", ALL, "%p", "" }, { "gsub", ALL, "%P", "" },
  { "gsub", ALL, "%s", "" }, { "gsub", ALL, "%S", "" }, { "gsub", ALL, "%u", "" }, { "gsub", ALL, "%U", "" },
  { "gsub", ALL, "%w", "" }, { "gsub", ALL, "%W", "" }, { "gsub", ALL, "%x", "" }, { "gsub", ALL, "%X", "" },
  { "gsub", ALL, "%z", "" }, { "gsub", ALL, "%Z", "" }, { "gsub", ALL, ".", "" }, { "gsub", ALL, "%.", "" },
  { "gsub", ALL, "%b", "" }, { "gsub", ALL, "%q", "" }, { "gsub", ALL, "%%", "" }, { "gsub", ALL, "%]", "" },
  { "gsub", ALL, "%\255", "" }, { "gsub", ALL, "\0", "" },
  -- sets
  { "gsub", ALL, "[%a_]", "" }, { "gsub", ALL, "[^%d]", "" }, { "gsub", ALL, "[a-f]", "" },
  { "gsub", ALL, "[%]]", "" }, { "gsub", ALL, "[]]", "" }, { "gsub", ALL, "[^]]", "" }, { "gsub", ALL, "[a-]", "" },
  { "gsub", ALL, "[-a]", "" }, { "gsub", ALL, "[%-]", "" }, { "gsub", ALL, "[a%-z]", "" },
  { "gsub", ALL, "[z-a]", "" }, { "gsub", ALL, "[%a-z]", "" }, { "gsub", ALL, "[.]", "" },
  { "gsub", ALL, "[%.]", "" }, { "gsub", ALL, "[^%s%p]", "" }, { "gsub", ALL, "[\0-\31]", "" },
  { "gsub", ALL, "[\128-\255]", "" }, { "gsub", ALL, "[%z]", "" }, { "gsub", ALL, "[^%z]", "" },
  { "gsub", ALL, "[^^]", "" }, { "gsub", ALL, "[]-a]", "" }, { "gsub", ALL, "[%%-]", "" },
  { "gsub", ALL, "[a-c-e]", "" }, { "gsub", ALL, "[%w-]", "" }, { "gsub", ALL, "[[]", "" },
  { "gsub", ALL, "[^]", "" }, { "gsub", ALL, "[%b]", "" }, { "gsub", ALL, "[%f]", "" }, { "gsub", ALL, "[%1]", "" },
  { "match", "a]b", "[]]+" }, { "match", "x-y", "[x-]+" }, { "match", "^x", "[x^]+" },
  -- captures
  { "match", "abcd", "((a)(b)(c))" }, { "match", "abc", "()a()" }, { "find", "abc", "()" },
  { "gsub", "abc", "()", "[%1]" }, { "match", "abc", "(a" }, { "find", "abc", "(a" }, { "find", "abc", "(x" },
  { "gsub", "abc", "(a", "x" }, { "gsub", "abc", "(a", "%1" }, { "gsub", "abc", "(a", "%0" },
  { "gsub", "abc", "(a", REPL.concat }, { "gsub", "abc", "(a", REPL.tbl }, { "gmatch", "abc", "(a" },
  { "find", "abc", "a)" }, { "find", "abc", "x)" }, { "find", "abc", ")" }, { "match", "abc", "(a)b)" },
  { "match", "abc", "((a)" }, { "match", "abc", "(()a)" }, { "match", "", "()" },
  { "match", "abc", string.rep("(", 32) .. "a" .. string.rep(")", 32) },
  { "match", "abc", string.rep("(", 33) .. "a" .. string.rep(")", 33) },
  { "match", "abc", "x" .. string.rep("(", 33) },
  { "match", "abc", string.rep("()", 33) },
  -- back-references
  { "match", "abab", "(ab)%1" }, { "match", "xaax", "(a)%1" }, { "find", "abc", "%1" }, { "find", "abc", "(a)%2" },
  { "find", "abc", "(a%1)" }, { "find", "aa", "()a%1" }, { "find", "abc", "%0" }, { "find", "abc", "x%0" },
  { "match", "hello hello", "(h%a+) %1" }, { "match", "a", "(a)%1" }, { "match", "abcabc", "(a)(b)(c)%1%2%3" },
  { "match", "aa", "(a*)%1" }, { "match", "", "()%1" }, { "match", "x", "(.-)%1$" }, { "find", "a", "(a)%9" },
  -- %b
  { "match", "x(a(b)c)y", "%b()" }, { "match", "((", "%b()" }, { "match", "a)b(", "%b)(" },
  { "match", "''x''", "%b''" }, { "find", "abc", "%b" }, { "find", "abc", "%ba" }, { "find", "", "%b" },
  { "gsub", "f(a(b)) g(c)", "%b()", "<>" }, { "find", "abc", "x%b" }, { "match", "[[a]]*", "%b[]*" },
  { "match", "(a)b", "%b()b" }, { "match", "a\0b\0", "%b\0\0" }, { "gsub", "((a)(b)", "%b()", "X" },
  -- %f
  { "find", "THE (quick) fox", "%f[%a]%a+" }, { "gsub", "the quick", "%f[%w]%w+", "X" },
  { "find", "abc", "%f[%z]" }, { "find", "abc", "%f" }, { "find", "abc", "%fa" }, { "find", "abc", "%f[a" },
  { "gsub", "aaa bbb", "%f[%l]", "|" }, { "gsub", "hello", "%f[%W]", "|" }, { "gsub", "", "%f[%z]", "|" },
  { "gsub", "a\0b", "%f[%Z]", "|" }, { "gsub", "ab", "%f[^%z]", "|" }, { "find", "abc", "x%f" },
  { "gsub", "THE (quick) fox", "%f[%a]", "^" }, { "gsub", "aXb", "%f[%u]%u%f[%U]", "-" },
  -- malformed patterns
  { "find", "abc", "%" }, { "find", "abc", "a%" }, { "find", "abc", "[a" }, { "find", "abc", "[%" },
  { "find", "abc", "[a%" }, { "find", "abc", "[]" }, { "find", "abc", "[^]" }, { "find", "abc", "[^" },
  { "find", "abc", "x[" }, { "find", "", "%" }, { "find", "", "[" }, { "match", "abc", "a[" },
  { "gsub", "abc", "[", "x" }, { "gmatch", "abc", "[" }, { "gmatch", "abc", "x[" }, { "find", "abc", "[%]" },
  { "find", "abc", "b%" }, { "find", "b", "b%" },
  -- depth limit
  { "find", string.rep("a", 300), string.rep("a?", 300) },
  { "match", string.rep("a", 100), string.rep("a?", 198) },
  { "match", string.rep("a", 100), string.rep("a?", 199) },
  { "match", string.rep("a", 100), string.rep("a?", 200) },
  { "match", string.rep("a", 300), string.rep("a?", 200) .. "b" },
  { "match", string.rep("a", 12), string.rep("a?", 12) .. "b" },
  { "match", "", string.rep("a*", 250) }, { "match", "aaaa", string.rep("a*", 250) },
  { "match", "aaaa", string.rep("a-", 199) }, { "match", "aaaa", string.rep("a-", 200) },
  { "match", "aaaa", string.rep(".-", 250) }, { "match", "x", string.rep("x?", 250) .. "(" },
  { "match", "aaa", string.rep("()", 32) .. string.rep("a?", 170) },
  { "match", "aaa", string.rep("(", 32) .. string.rep("a?", 140) .. string.rep(")", 32) },
  { "match", "aaa", string.rep("(", 32) .. string.rep("a?", 135) .. string.rep(")", 32) },
  { "match", string.rep("a", 201), string.rep("a?", 198) .. "a*" },
  { "match", string.rep("a", 201), string.rep("a?", 199) .. "a*" },
  { "match", string.rep("a", 201), string.rep("a?", 199) .. "a-" },
  { "match", string.rep("a", 201), string.rep("a?", 199) .. "(a)" },
  { "match", SUBJECT(199, "aaa"), CHAIN(199) .. "a*b" }, { "match", SUBJECT(198, "aaa"), CHAIN(198) .. "a*b" },
  { "match", SUBJECT(199, "aaa"), CHAIN(199) .. "a-b" }, { "match", SUBJECT(198, "aaa"), CHAIN(198) .. "a-b" },
  { "match", SUBJECT(197, "aaa"), CHAIN(197) .. "a*()b" }, { "match", SUBJECT(196, "aaa"), CHAIN(196) .. "a*()b" },
  { "match", SUBJECT(197, "aaa"), CHAIN(197) .. "a-(b)" }, { "match", SUBJECT(196, "aaa"), CHAIN(196) .. "a-(b)" },
  { "match", SUBJECT(198, " x"), CHAIN(198) .. ".-%s*$" }, { "match", SUBJECT(197, " x"), CHAIN(197) .. ".-%s*$" },
  { "match", SUBJECT(198, "a x"), CHAIN(198) .. "a*%s*$" }, { "match", SUBJECT(197, "a x"), CHAIN(197) .. "a*%s*$" },
  { "match", SUBJECT(198, "aaab"), CHAIN(198) .. "a*b" }, { "match", SUBJECT(199, "aaab"), CHAIN(199) .. "a*b" },
  { "match", string.rep("a", 250), string.rep("a-", 199) .. "$" },
  { "match", string.rep("a", 250), string.rep("a-", 200) .. "$" },
  -- gsub replacements
  { "gsub", "hello world", "o", "0" }, { "gsub", "hello world", "(o)", "[%1]" }, { "gsub", "hello", "l", "%%" },
  { "gsub", "hello", "l", "%" }, { "gsub", "hello", "l", "%a" }, { "gsub", "hello", "l", "%2" },
  { "gsub", "hello", "l", "%1" }, { "gsub", "hello", "(l)", "%2" }, { "gsub", "hello", "(l)(l)", "%2%1" },
  { "gsub", "hello", "", "-" }, { "gsub", "hello", "x*", "-" }, { "gsub", "abc", "%w", "%0%0" },
  { "gsub", "abc", "%w", "%0", 2 }, { "gsub", "abc", "%w", "x", 0 }, { "gsub", "abc", "%w", "x", -1 },
  { "gsub", "abc", "%w", "x", 2.0 }, { "gsub", "abc", "%w", "x", 2.5 }, { "gsub", "abc", "%w", "x", "1" },
  { "gsub", "abc", "%w", "x", {} }, { "gsub", "abc", "%w", 5 }, { "gsub", "abc", "%w", 1.5 },
  { "gsub", "abc", "%w", 2^53 }, { "gsub", "abc", "%w", nil, n = 3 }, { "gsub", "abc", "%w" },
  { "gsub", "abc", "%w", true }, { "gsub", 123, 2, "x" }, { "gsub", 123, 4, "x" }, { "gsub", 1.5, "%.", "," },
  { "gsub", "abc", "b", "\0" }, { "gsub", "abc", "b", "%\0" }, { "gsub", "abc", "x", "%" },
  { "gsub", "abc", "%w", "%1%2" }, { "gsub", "abc", "(%w)", "%1%2" }, { "gsub", "abc", "()", "%1" },
  { "gsub", "abc", "()(b)", "%1%2" }, { "gsub", "abc", "%w", "%9" }, { "gsub", "a.b", "%.", "%%%0" },
  { "gsub", "abc", "%w", "x", math.maxinteger }, { "gsub", "abc", "", "", 2 }, { "gsub", "", "", "x" },
  { "gsub", "", "x*", "y" }, { "gsub", "abc", ".-", "-" }, { "gsub", "abc", "b*", "-" },
  { "gsub", "hello world", "%w+", "%0 %0", 1 }, { "gsub", "abc", "^", ">" }, { "gsub", "abc", "$", "<" },
  { "gsub", "abc", "%w", REPL.concat }, { "gsub", "abc", "(%w)(%w)", REPL.concat },
  { "gsub", "abc", "()%w()", REPL.concat }, { "gsub", "abc", "%w", REPL.keep }, { "gsub", "abc", "%w", REPL.some },
  { "gsub", "abc", "()", REPL.some }, { "gsub", "abc", "%w", REPL.bad }, { "gsub", "a(b c", ".", REPL.tbl },
  { "gsub", "abc", "()%w", REPL.tbl }, { "gsub", "abc", "", REPL.tbl }, { "gsub", "abc", "(%w)(%w)", REPL.tbl },
  { "gsub", "abc", "%w", function() error("boom") end },
  { "gsub", "abc", "%w", function() error("boom", 0) end },
  { "gsub", "abc", "%w", setmetatable({}, { __index = function(_, k) return k:upper() end }) },
  { "gsub", "abc", "%w", function(c) return c == "b" and 2.5 or nil end },
  { "gsub", "abc", "%w", function() return true end },
  { "gsub", "ab cd", "%w+", function(w) return (P.gsub(w, "(.)", "%1%1")) .. (P.find(w, "d") or "") end },
  { "gsub", "ab cd", "%w+", function(w) return (H.gsub(w, "(.)", "%1-")) end },
  -- gmatch
  { "gmatch", "hello world from Lua", "%a+" }, { "gmatch", "abc", "()" }, { "gmatch", "abc", "" },
  { "gmatch", "abc", "x*" }, { "gmatch", "a,b,,c", "([^,]*)" }, { "gmatch", "key=val, k2=v2", "(%w+)=(%w+)" },
  { "gmatch", "abcabc", "a", 2 }, { "gmatch", "abc", "", 4 }, { "gmatch", "abc", "", 5 }, { "gmatch", "abc", "", -1 },
  { "gmatch", "abc", "a", 1.5 }, { "gmatch", "abc", "a", "x" }, { "gmatch", "abc", ".", -10 },
  { "gmatch", "abc", "a", math.maxinteger }, { "gmatch", "aaa", "a-" }, { "gmatch", "abc", "(%w)()" },
  { "gmatch", "a b", "%f[%w]" }, { "gmatch", "a", "a", nil, n = 3 },
  -- arguments
  { "find" }, { "find", "a" }, { "find", nil, "a" }, { "find", {}, "a" }, { "find", "a", {} },
  { "find", setmetatable({}, { __name = "MyType" }), "a" }, { "find", "a", nil, n = 2 },
  { "match", true, "a" }, { "match", "a", print }, { "gmatch" }, { "gmatch", "a" }, { "gsub", "a" },
  { "gsub", "a", "a", nil, nil, n = 4 }, { "gsub", nil, "a", "b" },
  { "find", 12345, 23 }, { "match", 1.5, "%." }, { "find", "1e+20", 1e20 }, { "match", 2^63, "%d+" },
  { "gmatch", 12345, "%d" }, { "match", -0.0, "-" },
  -- bytes
  { "find", "a\0b", "\0" }, { "find", "a\0b", "%z" }, { "find", "a\0b", "[\0]" }, { "match", "a\0b\0", "(.-)\0" },
  { "find", "a\0b", "\0", 1, true }, { "find", "a\0b", "[%z]+" }, { "gsub", "\200\255abc", "[\128-\255]", "?" },
  { "find", "\255", "%A" }, { "match", "a\0", "a%z$" }, { "find", "x\0(", "\0(" },
  -- larger inputs (the hybrid runs these in Lua: the C bound is too high)
  { "find", string.rep("a", 2000), ".-b" }, { "match", string.rep("a", 2000) .. "b", "(a-)(a*)b" },
  { "gsub", string.rep("ab ", 700), "(%w+)%s", "%1," }, { "find", string.rep("(", 1500), "%b()" },
  { "gsub", string.rep("x", 1000), "x-x", REPL.concat }, { "gmatch", string.rep("a b ", 500), "(%a+) (%a+)" },
  { "match", string.rep(" ", 1000) .. "x" .. string.rep(" ", 1000), "^%s*(.-)%s*$" },
  { "find", string.rep("aa", 100) .. "b", "(a+)%1b" },
}
return cases
"#;

fn compare(lua: &Lua, cases: Table) -> Vec<String> {
    let compare: Function = lua.globals().get("compare").unwrap();
    let diffs: Vec<mlua::String> = compare.call(cases).unwrap();
    diffs.iter().map(|d| d.to_string_lossy()).collect()
}

fn assert_no_diffs(diffs: &[String], what: &str) {
    assert!(
        diffs.is_empty(),
        "{} of the {what} differ from Lua's C functions; the first ones:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn tricky_cases_match_the_c_functions() {
    let lua = setup();
    let cases: Table = lua.load(TRICKY).set_name("=tricky").eval().unwrap();
    let diffs = compare(&lua, cases);
    assert_no_diffs(&diffs, "tricky cases");
}

#[test]
fn tricky_cases_raise_every_error_of_the_c_matcher() {
    // The differential test is only as good as its cases: check they reach every error.
    let lua = setup();
    let results: mlua::String = lua
        .load(
            r#"
            local cases = ...
            local out = {}
            for _, c in ipairs(cases) do
              out[#out + 1] = run(c, string)
            end
            return table.concat(out, "\n")
            "#,
        )
        .call(lua.load(TRICKY).eval::<Table>().unwrap())
        .unwrap();
    let results = results.to_string_lossy();
    for message in [
        "malformed pattern (ends with '%')",
        "malformed pattern (missing ']')",
        "malformed pattern (missing arguments to '%b')",
        "missing '[' after '%f' in pattern",
        "invalid capture index %1",
        "invalid capture index %0",
        "invalid capture index %2",
        "invalid pattern capture",
        "unfinished capture",
        "too many captures",
        "pattern too complex",
        "invalid use of '%' in replacement string",
        "invalid replacement value (a table)",
        "invalid replacement value (a boolean)",
        "bad argument #3 to 'gsub' (string/function/table expected, got no value)",
        "bad argument #3 to 'find' (number has no integer representation)",
        "bad argument #1 to 'find' (string expected, got MyType)",
        "harness:",
    ] {
        assert!(
            results.contains(message),
            "no tricky case raises {message:?}"
        );
    }
}

#[test]
fn known_results() {
    // Guards the harness: both implementations give these values, not just equal ones.
    let lua = setup();
    lua.load(
        r#"
        for _, impl in ipairs({ string, P, H }) do
          local s, e, a, b = impl.find("key = value", "(%w+)%s*=%s*(%w+)")
          assert(s == 1 and e == 11 and a == "key" and b == "value")
          assert(impl.match("  trim  ", "^%s*(.-)%s*$") == "trim")
          assert(select(2, impl.gsub("hello world", "o", "0")) == 2)
          assert(impl.gsub("abc", "%w", "%0%0") == "aabbcc")
          local t = {}
          for k, v in impl.gmatch("a=1, b=2", "(%w+)=(%w+)") do t[#t + 1] = k .. v end
          assert(table.concat(t, ",") == "a1,b2")
          assert(impl.find(string.rep("a", 10), "a-b") == nil)
          local ok, err = pcall(impl.find, "a", "%")
          assert(not ok and err == "malformed pattern (ends with '%')", err)
        end
        "#,
    )
    .exec()
    .unwrap();
}

#[test]
fn errors_point_at_the_calling_line_like_c() {
    let lua = setup();
    let messages: Vec<String> = lua
        .load(
            r#"
            local out = {}
            for _, impl in ipairs({ string, P, H }) do
              local ok, err = pcall(function()
                local x = impl.find("abc", "(")
              end)
              out[#out + 1] = err
              ok, err = pcall(function()
                for _ in impl.gmatch("abc", "%f") do end
              end)
              out[#out + 1] = err
              ok, err = pcall(function()
                local x = impl.gsub("abc", "b", "%2")
              end)
              out[#out + 1] = err
            end
            return out
            "#,
        )
        .set_name("=script")
        .eval()
        .unwrap();
    assert_eq!(messages[0], "script:5: unfinished capture");
    assert_eq!(messages[1], "script:9: missing '[' after '%f' in pattern");
    assert_eq!(messages[2], "script:13: invalid capture index %2");
    assert_eq!(messages[0..3], messages[3..6], "patterns.lua");
    assert_eq!(messages[0..3], messages[6..9], "hybrid");
}

/// xorshift64*: deterministic, good enough to pick grammar productions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

const ALPHABET: &[u8] = b"ab(%)[]. \nA1";

/// Patterns from a grammar of valid items (plus, sometimes, a stray special character to
/// exercise the errors), with at most 3 backtracking quantifiers so that the pure-Lua
/// matcher stays fast on 30-byte subjects.
struct PatternGen<'r> {
    rng: &'r mut Rng,
    quantifiers: usize,
}

impl PatternGen<'_> {
    fn pattern(rng: &mut Rng) -> Vec<u8> {
        let mut g = PatternGen {
            rng,
            quantifiers: 0,
        };
        let mut p = Vec::new();
        if g.rng.chance(20) {
            p.push(b'^');
        }
        g.sequence(&mut p, 0);
        if g.rng.chance(20) {
            p.push(b'$');
        }
        if g.rng.chance(6) {
            let at = g.rng.below(p.len() + 1);
            let stray = *g
                .rng
                .pick(&[b"%", b"[", b"]", b"(", b")", b"^", b"$", b"*", b"-"]);
            p.insert(at, stray[0]);
        }
        p
    }

    fn sequence(&mut self, out: &mut Vec<u8>, depth: usize) {
        for _ in 0..1 + self.rng.below(4) {
            self.item(out, depth);
        }
    }

    fn quantifier(&mut self, out: &mut Vec<u8>) {
        if self.quantifiers < 3 && self.rng.chance(35) {
            self.quantifiers += 1;
            out.push(*self.rng.pick(&[b"*", b"+", b"-", b"?"]).first().unwrap());
        }
    }

    fn set(&mut self, out: &mut Vec<u8>) {
        out.push(b'[');
        if self.rng.chance(25) {
            out.push(b'^');
        }
        for _ in 0..1 + self.rng.below(3) {
            let element: &[u8] = self.rng.pick(&[
                b"a" as &[u8],
                b"b",
                b" ",
                b"(",
                b".",
                b"a-b",
                b"(-a",
                b"%a",
                b"%]",
                b"%%",
                b"%s",
                b"%P",
                b"\n",
                b"-",
            ]);
            out.extend_from_slice(element);
        }
        out.push(b']');
    }

    fn item(&mut self, out: &mut Vec<u8>, depth: usize) {
        match self.rng.below(100) {
            0..=24 => {
                let single: &[u8] = self.rng.pick(&[
                    b"a" as &[u8],
                    b"b",
                    b" ",
                    b"A",
                    b"1",
                    b"\n",
                    b"%(",
                    b"%)",
                    b"%%",
                    b"%.",
                    b"%[",
                    b"%]",
                ]);
                out.extend_from_slice(single);
                self.quantifier(out);
            }
            25..=34 => {
                out.push(b'.');
                self.quantifier(out);
            }
            35..=46 => {
                out.push(b'%');
                out.push(b"adswplucxgADSWPLUCXG"[self.rng.below(20)]);
                self.quantifier(out);
            }
            47..=58 => {
                self.set(out);
                self.quantifier(out);
            }
            59..=70 if depth < 2 => {
                out.push(b'(');
                self.sequence(out, depth + 1);
                out.push(b')');
            }
            71..=74 => out.extend_from_slice(b"()"),
            75..=80 => {
                out.extend_from_slice(b"%b");
                out.extend_from_slice(self.rng.pick(&[b"()" as &[u8], b"[]", b"ab", b"((", b"%."]));
            }
            81..=86 => {
                out.extend_from_slice(b"%f");
                self.set(out);
            }
            87..=92 => {
                out.push(b'%');
                out.push(b"123"[self.rng.below(3)]);
            }
            _ => out.push(b"ab"[self.rng.below(2)]),
        }
    }
}

fn subject(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(31);
    (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect()
}

/// `count` random patterns, each with a random subject, as cases for `compare`.
fn random_cases(lua: &Lua, seed: u64, count: usize) -> Table {
    let mut rng = Rng(seed | 1);
    let cases = lua.create_table().unwrap();
    let case = |fname: &str, args: Vec<Value>, repl: Option<&str>| {
        let t = lua.create_table().unwrap();
        t.raw_set(1, fname).unwrap();
        t.raw_set("n", args.len()).unwrap();
        for (i, a) in args.into_iter().enumerate() {
            t.raw_set(i + 2, a).unwrap();
        }
        if let Some(repl) = repl {
            t.raw_set("repl", repl).unwrap();
        }
        cases.raw_push(t).unwrap();
    };
    let s = |bytes: &[u8]| Value::String(lua.create_string(bytes).unwrap());
    for _ in 0..count {
        let pattern = PatternGen::pattern(&mut rng);
        let subject = subject(&mut rng);
        let (p, sub) = (s(&pattern), s(&subject));
        let init = if rng.chance(30) {
            Value::Integer(rng.below(71) as i64 - 35)
        } else {
            Value::Nil
        };
        case("find", vec![sub.clone(), p.clone(), init.clone()], None);
        if rng.chance(10) {
            case(
                "find",
                vec![sub.clone(), p.clone(), init.clone(), Value::Boolean(true)],
                None,
            );
        }
        case("match", vec![sub.clone(), p.clone(), init.clone()], None);
        case("gmatch", vec![sub.clone(), p.clone(), init], None);
        let max = if rng.chance(20) {
            Value::Integer(rng.below(4) as i64)
        } else {
            Value::Nil
        };
        let repl = rng.pick(&["<%1>", "%0%0", "x", "%2-%1", "", "%%"]);
        case(
            "gsub",
            vec![sub.clone(), p.clone(), s(repl.as_bytes()), max.clone()],
            None,
        );
        let func = rng.pick(&["concat", "tbl", "keep", "some"]);
        case("gsub", vec![sub, p, Value::Nil, max], Some(func));
    }
    cases
}

#[test]
fn random_patterns_match_the_c_functions() {
    let seed = std::env::var("PATTERNS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2024_u64);
    let count = std::env::var("PATTERNS_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2500);
    let lua = setup();
    let cases = random_cases(&lua, seed, count);
    let diffs = compare(&lua, cases);
    assert_no_diffs(&diffs, &format!("random cases (PATTERNS_SEED={seed})"));
}

/// Loads patterns.lua alone (no harness) into a fresh state.
fn bare() -> (Lua, Table) {
    let lua = Lua::new();
    let patterns: Table = lua
        .load(include_str!("patterns.lua"))
        .set_name("=patterns")
        .eval()
        .unwrap();
    (lua, patterns)
}

/// Counts the count hook's calls, and raises an error from the `limit`th on.
fn count_hook(lua: &Lua, limit: u32) -> Rc<Cell<u32>> {
    let calls = Rc::new(Cell::new(0u32));
    let seen = calls.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(10_000),
        move |_, _| {
            seen.set(seen.get() + 1);
            if seen.get() >= limit {
                Err(mlua::Error::runtime("interrupted by the hook"))
            } else {
                Ok(VmState::Continue)
            }
        },
    )
    .unwrap();
    calls
}

#[test]
fn a_catastrophic_pattern_is_interrupted_by_the_count_hook() {
    let (lua, patterns) = bare();
    let calls = count_hook(&lua, 50);
    let find: Function = patterns.get("find").unwrap();
    let subject = lua.create_string(vec![b'a'; 100_000]).unwrap();
    let started = Instant::now();
    let err = find
        .call::<MultiValue>((subject, ".-.-.-b"))
        .expect_err("the hook interrupts the search");
    assert!(err.to_string().contains("interrupted by the hook"), "{err}");
    assert_eq!(calls.get(), 50);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn the_c_matcher_runs_without_the_hook_and_the_lua_one_with_it() {
    // Why patterns.lua exists: the same quadratic search, in C and in Lua.
    let (lua, patterns) = bare();
    let calls = count_hook(&lua, u32::MAX);
    let subject = lua.create_string(vec![b'a'; 3000]).unwrap();
    let c_find: Function = lua
        .globals()
        .get::<Table>("string")
        .unwrap()
        .get("find")
        .unwrap();
    let lua_find: Function = patterns.get("find").unwrap();
    assert_eq!(
        c_find.call::<Value>((subject.clone(), ".-b")).unwrap(),
        Value::Nil
    );
    assert!(
        calls.get() <= 1,
        "{} hook calls during a C call",
        calls.get()
    );
    assert_eq!(
        lua_find.call::<Value>((subject, ".-b")).unwrap(),
        Value::Nil
    );
    assert!(calls.get() > 10, "only {} hook calls", calls.get());
}

#[test]
fn a_preempting_hook_yields_out_of_the_lua_matcher_but_not_out_of_c() {
    // The sandbox preempts by yielding from the count hook (src/lua/mod.rs): the pure-Lua
    // search, inside a coroutine, yields many times before it returns C's result; the C
    // search runs to its end in one go.
    let lua = setup();
    lua.set_global_hook(HookTriggers::new().every_nth_instruction(10_000), |_, _| {
        Ok(VmState::Yield)
    })
    .unwrap();
    let (lua_yields, c_yields): (u32, u32) = lua
        .load(
            r#"
            local function yields(impl)
              local s = string.rep("a", 3000)
              local co = coroutine.create(function() return impl.find(s, "(.-)b") end)
              local n = 0
              while true do
                local ok, i, j = coroutine.resume(co)
                assert(ok, i)
                if coroutine.status(co) == "dead" then
                  assert(i == nil and j == nil)
                  return n
                end
                n = n + 1
              end
            end
            return yields(P), yields(string)
            "#,
        )
        .eval()
        .unwrap();
    assert!(lua_yields > 10, "{lua_yields} yields");
    assert_eq!(c_yields, 0);
}

#[test]
fn gsub_callbacks_can_yield_in_lua_but_not_in_c() {
    let lua = setup();
    lua.load(
        r#"
        local function run(impl)
          local co = coroutine.wrap(function()
            return impl.gsub("abc", "%w", function(c)
              coroutine.yield(c)
              return c:upper()
            end)
          end)
          local seen = {}
          local r, n
          repeat
            r, n = co()
            seen[#seen + 1] = r
          until n
          return table.concat(seen, ",")
        end
        assert(run(P) == "a,b,c,ABC")
        assert(run(H) == "a,b,c,ABC")
        local ok, err = pcall(run, string)
        assert(not ok and err:find("attempt to yield across a C%-call boundary"), err)
        "#,
    )
    .exec()
    .unwrap();
}

#[test]
fn cost_bound_separates_cheap_from_expensive_calls() {
    let (lua, patterns) = bare();
    let bound: Function = patterns.get("cost_bound").unwrap();
    let cheap = |s: &mlua::String, p: &str, plain: bool, fname: Option<&str>| -> bool {
        bound.call((s.clone(), p, plain, fname)).unwrap()
    };
    let mega = lua.create_string(vec![b'a'; 1 << 20]).unwrap();
    let big = lua.create_string(vec![b'a'; 100_000]).unwrap();
    let small = lua.create_string(vec![b'a'; 100]).unwrap();
    // Linear: cheap at any size.
    assert!(cheap(&mega, "%s+", false, Some("gsub")));
    assert!(cheap(&mega, "[^,]*", false, Some("gmatch")));
    assert!(cheap(&mega, "needle", true, Some("find")));
    assert!(cheap(&mega, "needle", false, Some("find")));
    assert!(cheap(&mega, "^(%w+)", false, Some("match")));
    assert!(cheap(&mega, "%f[%w]%w+", false, None));
    // Backtracking: cheap only on small subjects.
    assert!(!cheap(&big, ".-.-.-b", false, Some("find")));
    assert!(!cheap(&big, ".-.-.-b", false, None));
    assert!(!cheap(&small, ".-.-.-b", false, Some("find")));
    assert!(!cheap(&big, "(%d+)-(%d+)", false, Some("find")));
    assert!(cheap(&small, "(%d+)-(%d+)", false, Some("find")));
    assert!(!cheap(&big, "^(.-)%s*$", false, Some("match")));
    assert!(!cheap(&big, "%b()", false, Some("gsub")));
    assert!(!cheap(&big, "(a+)%1", false, Some("gsub")));
    // A long needle makes the plain search quadratic too.
    assert!(!cheap(&mega, &"a".repeat(1000), true, Some("find")));
    assert!(cheap(&small, &"a".repeat(1000), true, Some("find")));
    // Not strings: C raises the argument error itself.
    let not_cheap: bool = bound.call((Value::Nil, ".-.-b")).unwrap();
    assert!(not_cheap);
}
