// The interpreter row of BENCHMARKS.md's real-programs table: plain JavaScript run by
// QuickJS-ng (componentize-qjs turns it into a wasi:cli/run component). It checks its
// own answers (computed by Node.js) and throws, so a wrong run fails loudly.
const EXPECTED = "2178309 16000160000 144000304 19999900000";
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
export const run = {
  run() {
    const m = new Map();
    for (let i = 0; i < 400000; i++) m.set("k" + i, i * 2);
    let s = 0;
    for (const [k, v] of m) if (k.endsWith("7")) s += v;
    let t = 0;
    for (let x = 1; x <= 3000000; x++) t += (x * x) % 97;
    const words = [];
    for (let i = 0; i < 200000; i++) words.push(JSON.stringify({ i, s: "w" + (i % 1000) }));
    const parsed = words.map((w) => JSON.parse(w).i).reduce((a, b) => a + b, 0);
    const got = [fib(32), s, t, parsed].join(" ");
    if (got !== EXPECTED) throw new Error("got " + got);
  }
};
