//! `process.lua` and `function.lua` entries: Lua 5.4 (mlua, vendored) processes on the
//! same hosts and executors as wasm ones. A Lua process is one task; its blocking calls
//! (`receive`, `time.sleep`, a channel) park only the coroutine that waits, and an
//! instruction-count hook yields every [`INSTRUCTION_SLICE`] instructions, so a busy Lua
//! loop is preempted like a wasm one.
//!
//! The sandbox: the `table`, `string`, `math`, `utf8` and `coroutine` libraries (with
//! Wippy's `coroutine.spawn`), `os` with only `time`, `date`, `clock` and `difftime`,
//! `print` (to the terminal or the host's log), the modules
//! `process`, `channel`, `time` and `system`, and the library modules the entry's `modules:`
//! lists (`logger`, `io`, `json`, `uuid`, `env`, `funcs`, `events`). No Lua `io`, no
//! other `os` function, no `package`, `debug`, `loadfile`, `dofile` or `string.dump`: a script reaches the world
//! through processes. `load` takes text only, `setmetatable` refuses `__gc` (finalizers run
//! with hooks off) and `collectgarbage` only collects and measures (see `support.lua`).

mod channel;
mod convert;
mod dialect;
mod env_api;
mod events_api;
mod funcs_api;
mod io_api;
mod json_api;
mod logger_api;
mod message;
mod modules;
#[cfg(test)]
mod patterns_tests;
mod process_api;
mod system_api;
mod tasks;
mod time_api;
mod time_values;
mod uuid_api;

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, OnceLock, Weak};

use mlua::{ffi, ChunkMode, Function, Lua, LuaOptions, StdLib, Table, Value as LuaValue, Variadic};

use crate::env_store::EnvStore;
use crate::kernel::exit::{ExitReason, ExitResult};
use crate::kernel::kind::{ProcessKind, Ready, Spawnable};
use crate::kernel::output::Stream;
use crate::kernel::process::{self, Args, Body, ProcessCtx};
use crate::kernel::Kernel;
use crate::load::fsroot::{read_beneath, Refused};
use crate::registry::{Diagnostics, EntryConfig, EntryId, Location, LuaSource, Registry};
use crate::service::Services;
use crate::value::Value;

pub use convert::{from_lua, to_lua};

/// Where a process's `logger` lines go: the terminal's stderr, or the host's guest log.
fn stderr_sink(ctx: &ProcessCtx) -> logger_api::Sink {
    let (pid, log) = (ctx.pid.clone(), ctx.settings.log.clone());
    if ctx.settings.inherit_stdio {
        Rc::new(|line: &str| {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        })
    } else {
        Rc::new(move |line: &str| log.emit(&pid, Stream::Stderr, line))
    }
}

/// The standard libraries a Lua process's state opens (`os` is cut down to the clock in
/// `install_support`). The bench's bare-mlua baseline opens the same.
pub fn std_libs() -> StdLib {
    StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE | StdLib::OS
}

/// Lua VM instructions per Step: a busy script yields after this many.
pub(crate) const INSTRUCTION_SLICE: u32 = 10_000;

/// The largest `file://` script read (16 MiB): checked before reading, so a sparse huge
/// file cannot take the host's memory at load.
const MAX_SCRIPT_BYTES: u64 = 16 << 20;

/// Memory a Lua process may allocate.
pub(crate) const MEMORY_LIMIT: usize = 256 << 20;

struct Script {
    id: EntryId,
    name: String,
    /// The script compiled at load (with its debug information: lines for errors).
    bytecode: Vec<u8>,
    method: String,
    /// `modules:`: the library modules it may require.
    modules: Vec<String>,
    kernel: Arc<KernelSlot>,
    env: Arc<EnvStore>,
}

/// Modules every script has, as globals and through `require` (Wippy's always-present
/// `process` and `channel`; the seed's `time`; our `system`).
const ALWAYS: [&str; 4] = ["process", "channel", "time", "system"];

/// Modules a script has only when its entry lists them in `modules:`.
const LISTED: [&str; 7] = ["logger", "io", "json", "uuid", "env", "funcs", "events"];

/// Wippy's other modules: accepted in `modules:` (with a warning), not available here.
const ELSEWHERE: [&str; 24] = [
    "http",
    "http_client",
    "sql",
    "store",
    "fs",
    "exec",
    "crypto",
    "hash",
    "base64",
    "websocket",
    "security",
    "templates",
    "registry",
    "contract",
    "llm",
    "yaml",
    "excel",
    "expr",
    "text",
    "cloudstorage",
    "treesitter",
    "stream",
    "ctx",
    "payload",
];

/// The kernel a Lua process spawns, sends and links through, and the services it can ask
/// about: set once the kernel has started (it starts after every kind has loaded).
type KernelSlot = OnceLock<(Weak<Kernel>, Weak<Services>)>;

/// The Lua kind: every `process.lua` entry is read and syntax-checked at load.
#[derive(Default)]
pub(crate) struct LuaKind {
    kernel: Arc<KernelSlot>,
}

impl LuaKind {
    /// Gives the scripts the kernel they run on and the project's services.
    pub fn attach(&self, kernel: &Arc<Kernel>, services: &Arc<Services>) {
        let _ = self
            .kernel
            .set((Arc::downgrade(kernel), Arc::downgrade(services)));
    }
}

impl ProcessKind for LuaKind {
    /// Every entry is read and checked even outside `only`: a Lua command may spawn any of
    /// them, and a script is cheap to check.
    fn load(
        &self,
        registry: &Registry,
        _only: Option<&[EntryId]>,
        diags: &mut Diagnostics,
    ) -> Ready {
        let mut scripts: Ready = Vec::new();
        let env = Arc::new(EnvStore::from_registry(registry));
        for entry in registry.entries() {
            let EntryConfig::Lua(lua) = &entry.config else {
                continue;
            };
            if diags.has_problem(&entry.id) {
                continue;
            }
            let at = Location::entry(&entry.file, &entry.id).with_field("source");
            let (source, name) = match &lua.source {
                // Chunk names as Lua prints them in errors: `@` a file's path, `=` the text as
                // written (`app:cli:4:`), instead of `[string "..."]:4:`.
                LuaSource::Inline(code) => (code.clone(), format!("={}", entry.id)),
                LuaSource::File(path) => match read_script(registry.root(), path) {
                    Ok(code) => (code, format!("@{}", path.display())),
                    Err(message) => {
                        diags.problem(at, message);
                        continue;
                    }
                },
            };
            // Wippy's dialect: type annotations erased, lines kept.
            let source = dialect::erase_types(&source);
            // Compiled once here, where it is checked: each spawn loads the bytecode
            // (ours, made from the text by this same Lua) instead of parsing again.
            let bytecode = match Lua::new()
                .load(&source)
                .set_name(&name)
                .set_mode(ChunkMode::Text)
                .into_function()
            {
                Ok(f) => f.dump(false),
                Err(e) => {
                    diags.problem(at, format!("lua syntax error: {e}"));
                    continue;
                }
            };
            for (i, module) in lua.modules.iter().enumerate() {
                if LISTED.contains(&module.as_str()) || ALWAYS.contains(&module.as_str()) {
                    continue;
                }
                let at =
                    Location::entry(&entry.file, &entry.id).with_field(format!("modules[{i}]"));
                if ELSEWHERE.contains(&module.as_str()) {
                    diags.warn(at, format!("module {module} is not available in wippy-wasm; require(\"{module}\") will fail"));
                } else {
                    diags.warn(
                        at,
                        format!("unknown module {module} (available: {})", LISTED.join(", ")),
                    );
                }
            }
            let script = Script {
                id: entry.id.clone(),
                name,
                bytecode,
                method: lua.method.clone(),
                modules: lua.modules.clone(),
                kernel: self.kernel.clone(),
                env: env.clone(),
            };
            scripts.push((entry.id.clone(), Arc::new(script)));
        }
        scripts
    }
}

impl Spawnable for Script {
    fn body(self: Arc<Self>, args: Args) -> Body {
        Box::new(move |ctx: ProcessCtx| {
            Box::pin(async move {
                let call = Box::pin(run(&self, args, &ctx));
                process::race(call, &ctx, None).await
            })
        })
    }

    fn reads_events(&self) -> bool {
        true
    }

    /// Wippy's default: a linked failure ends a Lua process unless it sets `trap_links`.
    fn traps_links(&self) -> bool {
        false
    }
}

fn open_failed(path: &Path) -> String {
    format!("failed to open file: {}", path.display())
}

/// Reads a `file://` script (`path`: the folder of its _index.yaml joined with the
/// source) if it is inside the project `root`: `..` may not climb out of the project, and
/// the file is opened beneath a handle on the root (cap-std), so no symlink leads out
/// either, not even one swapped in while we look.
fn read_script(root: &Path, path: &Path) -> Result<String, String> {
    let outside = |how: &str| {
        format!(
            "failed to open file: {}: the path leaves the project folder{how}",
            path.display()
        )
    };
    let relative = path.strip_prefix(root).map_err(|_| outside(""))?;
    let mut inside = PathBuf::new();
    for component in relative.components() {
        match component {
            Component::CurDir => {}
            Component::Normal(part) => inside.push(part),
            Component::ParentDir => {
                if !inside.pop() {
                    return Err(outside(""));
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(outside("")),
        }
    }
    let failed =
        |e: &dyn std::fmt::Display| format!("failed to open file: {}: {e}", path.display());
    let bytes = read_beneath(root, &inside, MAX_SCRIPT_BYTES).map_err(|refused| match refused {
        Refused::NotFound => open_failed(path),
        Refused::Escapes => outside(" through a symlink (an absolute symlink counts as leaving)"),
        Refused::NotRegular => failed(&"not a regular file"),
        Refused::TooLarge(size) => failed(&format_args!(
            "{size} bytes is more than a script may be ({MAX_SCRIPT_BYTES})"
        )),
        Refused::Root(e) => format!("project folder {}: {e}", root.display()),
        Refused::Io(e) => failed(&e),
    })?;
    String::from_utf8(bytes).map_err(|_| open_failed(path))
}

async fn run(script: &Script, args: Args, ctx: &ProcessCtx) -> ExitResult {
    match call(script, args, ctx).await {
        Ok(result) => result,
        Err(e) => ExitReason::failed(format!("lua process {}: {e}", script.id)).into(),
    }
}

fn new_state(script: &Script, ctx: &ProcessCtx, words: Vec<String>) -> mlua::Result<Lua> {
    let lua = Lua::new_with(std_libs(), LuaOptions::new())?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    // Everything built from here to the script is live: a collection would only walk it.
    lua.gc_stop();
    let (kernel, services) = script.kernel.get().cloned().unwrap_or_default();
    let me = process_api::Me {
        kernel,
        entry: script.id.to_string(),
        kill: ctx.kill.clone(),
        listened: Default::default(),
        pid: ctx.pid.clone(),
        inbox: ctx
            .inbox
            .clone()
            .expect("the host gives Lua processes an inbox"),
    };
    // Channels' async methods capture `coroutine.yield` when their type is first used:
    // register the type now, while it is the library's own.
    let held = channel::register_type(&lua)?;
    let allowed: Vec<String> = ALWAYS
        .iter()
        .map(|m| m.to_string())
        .chain(
            script
                .modules
                .iter()
                .filter(|m| LISTED.contains(&m.as_str()))
                .cloned(),
        )
        .collect();
    let (env, namespace, sink_ctx) = (
        script.env.clone(),
        script.id.namespace().to_owned(),
        stderr_sink(ctx),
    );
    let inherit_stdio = ctx.settings.inherit_stdio;
    let build = move |lua: &Lua, name: &str| -> mlua::Result<LuaValue> {
        Ok(match name {
            "process" => LuaValue::Table(process_api::module(lua, me.clone())?),
            "channel" => LuaValue::Table(channel::module(lua, held.clone())?),
            "time" => LuaValue::Table(time_api::module(lua)?),
            "system" => LuaValue::Table(system_api::module(lua, services.clone())?),
            "logger" => LuaValue::UserData(logger_api::module(lua, sink_ctx.clone())?),
            "io" => LuaValue::Table(io_api::module(lua, inherit_stdio, words.clone())?),
            "json" => LuaValue::Table(json_api::module(lua)?),
            "uuid" => LuaValue::Table(uuid_api::module(lua)?),
            "env" => LuaValue::Table(env_api::module(lua, env.clone(), namespace.clone())?),
            "funcs" => LuaValue::Table(funcs_api::module(lua, me.clone())?),
            "events" => LuaValue::Table(events_api::module(lua, me.kernel.clone())?),
            _ => LuaValue::Nil,
        })
    };
    let globals = lua.globals();
    let modules = Rc::new(modules::Lazy::new(&lua, allowed, Box::new(build))?);
    let m = modules.clone();
    let id = script.id.clone();
    globals.set(
        "require",
        lua.create_function(move |lua, name: String| {
            if let Some(module) = m.get(lua, &name)? {
                return Ok(module);
            }
            Err(mlua::Error::runtime(if LISTED.contains(&name.as_str()) {
                format!("module '{name}' is not in the modules of entry {id}: add `- {name}` to its `modules:` list")
            } else if ELSEWHERE.contains(&name.as_str()) {
                format!("module '{name}' not found: wippy-wasm does not provide it")
            } else {
                format!("module '{name}' not found (modules: {}, and with `modules:` {})", ALWAYS.join(", "), LISTED.join(", "))
            }))
        })?,
    )?;
    modules.install_globals(&lua)?;
    let (pid, inherit, log) = (
        ctx.pid.clone(),
        ctx.settings.inherit_stdio,
        ctx.settings.log.clone(),
    );
    globals.set(
        "print",
        lua.create_function(move |_, args: Variadic<LuaValue>| {
            let text = args
                .iter()
                .map(|v| v.to_string())
                .collect::<mlua::Result<Vec<_>>>()?
                .join("\t");
            if inherit {
                // A closed stdout (`| head`) is not the script's failure, nor a panic.
                let _ = writeln!(std::io::stdout().lock(), "{text}");
            } else {
                for line in text.split('\n') {
                    log.emit(&pid, Stream::Stdout, line);
                }
            }
            Ok(())
        })?,
    )?;
    install_support(&lua, ctx)?;
    lua.gc_restart();
    Ok(lua)
}

// Why the driver and the trampolines (src/lua/support.lua) exist.
//
// The hook preempts by yielding the running thread from inside the hook. After such a
// yield Lua 5.4 keeps the interrupted Lua frame as the thread's current frame, so the
// frame's live registers count as stack slots. mlua's `AsyncThread::poll` (and
// `Thread::resume`) run every resume under `StackGuard::with_top(thread, 0)`, which sets
// the thread's top to 0 afterwards: it truncates that frame. The GC then stops marking
// (and clears) the frame's registers, and instructions that take "all values up to the
// top" read a wrong top: crashes after some thousands of preemptions. Lua's own
// `coroutine.resume` handles hook yields correctly.
//
// So the thread mlua drives (the driver) is never preempted: it runs only `driver`, which
// resumes the script in a coroutine with the raw `coroutine.resume` and passes whatever
// that coroutine yields outward. An async host function yields mlua's "pending" marker:
// passed outward, mlua parks the task; a preemption yields nothing: passed outward, mlua
// wakes the task and returns Pending, which is one Step. Scripts' own coroutines get the
// same treatment from the `coroutine.resume`/`wrap` replacements, so a wait or a busy loop
// inside a coroutine parks or is preempted like one outside. The hook records which thread
// it yielded, so the resumer can tell a preemption from the script's own `yield()`.

/// What a Lua state keeps for [`drive`].
struct Support {
    preemption: Rc<tasks::Preemption>,
    driver: Function,
    spawned: Rc<tasks::Spawned>,
}

/// One of our own Lua chunks.
struct Builtin {
    name: &'static str,
    source: &'static str,
    bytecode: std::sync::OnceLock<Vec<u8>>,
}

static SUPPORT: Builtin = Builtin {
    name: "=wippy",
    source: include_str!("support.lua"),
    bytecode: std::sync::OnceLock::new(),
};
static PATTERNS: Builtin = Builtin {
    name: "=wippy.patterns",
    source: include_str!("patterns.lua"),
    bytecode: std::sync::OnceLock::new(),
};
static BOUNDED: Builtin = Builtin {
    name: "=wippy.bounded",
    source: include_str!("bounded.lua"),
    bytecode: std::sync::OnceLock::new(),
};

/// Loads one of our chunks into `lua`. Every Lua process loads all of them, and parsing
/// ~2,000 lines would be most of a Lua spawn, so each is compiled once per OS process and
/// loaded as bytecode after that. This is the only bytecode ever loaded: we made it, with
/// this same Lua; scripts' `load` stays text-only (Lua does not verify bytecode).
fn builtin(lua: &Lua, chunk: &'static Builtin) -> mlua::Result<Function> {
    let bytecode = match chunk.bytecode.get() {
        Some(b) => b,
        None => {
            let compiled = Lua::new()
                .load(chunk.source)
                .set_name(chunk.name)
                .set_mode(ChunkMode::Text)
                .into_function()?
                .dump(false);
            chunk.bytecode.get_or_init(|| compiled)
        }
    };
    lua.load(&bytecode[..])
        .set_name(chunk.name)
        .set_mode(ChunkMode::Binary)
        .into_function()
}

/// Installs the driver, the sandbox's replacements (see `support.lua`) and the hook.
fn install_support(lua: &Lua, ctx: &ProcessCtx) -> mlua::Result<()> {
    let preemption = Rc::new(tasks::Preemption::default());
    let globals = lua.globals();
    let coroutine: Table = globals.get("coroutine")?;
    let string: Table = globals.get("string")?;
    let raw = lua.create_table()?;
    for name in [
        "resume",
        "create",
        "status",
        "close",
        "yield",
        "isyieldable",
    ] {
        raw.set(name, coroutine.get::<Function>(name)?)?;
    }
    for name in ["load", "setmetatable", "collectgarbage", "xpcall"] {
        raw.set(name, globals.get::<Function>(name)?)?;
    }
    let kill = ctx.kill.clone();
    raw.set(
        "killed",
        lua.create_function(move |_, ()| Ok(kill.is_killed()))?,
    )?;
    let p = preemption.clone();
    let take = lua.create_function(move |_, co: mlua::Thread| Ok(p.take(co.state() as usize)))?;
    let (driver, resume, wrap, load, setmetatable, collectgarbage, xpcall): (
        Function,
        Function,
        Function,
        Function,
        Function,
        Function,
        Function,
    ) = builtin(lua, &SUPPORT)?.call((raw, take, LuaValue::LightUserData(Lua::poll_pending())))?;
    coroutine.set("resume", resume)?;
    coroutine.set("wrap", wrap)?;
    globals.set("load", load)?;
    globals.set("setmetatable", setmetatable)?;
    globals.set("collectgarbage", collectgarbage)?;
    globals.set("xpcall", xpcall)?;
    // The string metatable is shared by every string: hide it, so a script cannot give
    // strings a `__close` (run with hooks off when a kill unwinds) or other metamethods.
    let string_meta: Table = globals.get::<Function>("getmetatable")?.call("")?;
    string_meta.raw_set("__metatable", false)?;
    // Long C calls the hook cannot interrupt get Lua paths (see `bounded.lua`).
    let load_patterns = lua.create_function(|lua, env: Table| {
        let patterns = builtin(lua, &PATTERNS)?;
        patterns.set_environment(env)?;
        patterns.call::<Table>(())
    })?;
    builtin(lua, &BOUNDED)?.call::<()>((
        load_patterns,
        string.clone(),
        globals.get::<Table>("table")?,
    ))?;
    // Wippy's `os`: only the clock and calendar (`time`, `date`, `clock`, `difftime`); no
    // `execute`, `getenv`, `remove`, `rename`, `tmpname`, `exit`, `setlocale`.
    let os: Table = globals.get("os")?;
    let kept = lua.create_table()?;
    for name in ["time", "date", "clock", "difftime"] {
        kept.set(name, os.get::<Function>(name)?)?;
    }
    globals.set("os", kept)?;
    // They read host files; `string.dump` makes bytecode, which `load` refuses anyway.
    globals.set("loadfile", LuaValue::Nil)?;
    globals.set("dofile", LuaValue::Nil)?;
    string.set("dump", LuaValue::Nil)?;
    let spawned = Rc::new(tasks::Spawned::default());
    coroutine.set("spawn", tasks::spawn_function(lua, spawned.clone())?)?;
    lua.set_app_data(Support {
        preemption: preemption.clone(),
        driver,
        spawned,
    });

    // Every INSTRUCTION_SLICE instructions, yield the running thread if it can yield and
    // is not the driver (see above). Once the process is killed: yield if possible (the
    // task then drops the whole state), else raise `process terminated`, and check at
    // every instruction from then on, so a `pcall` catching the error cannot keep a loop
    // alive: the next instruction outside it raises again, until a yieldable frame yields.
    let kill = ctx.kill.clone();
    lua.set_global_hook(
        mlua::HookTriggers::new().every_nth_instruction(INSTRUCTION_SLICE),
        move |lua, _| {
            let killed = kill.is_killed();
            let terminated = || {
                if killed {
                    Err(mlua::Error::runtime("process terminated"))
                } else {
                    Ok(mlua::VmState::Continue)
                }
            };
            // The running thread, without making an mlua reference (which can panic
            // when it cannot grow its stack at the memory limit).
            let mut state = std::ptr::null_mut();
            // SAFETY: the closure only copies the pointer of the thread running the hook.
            if unsafe { lua.exec_raw::<()>((), |s| state = s) }.is_err() {
                return terminated();
            }
            if preemption.drivers.borrow().contains(&(state as usize)) {
                return Ok(mlua::VmState::Continue);
            }
            // SAFETY: `state` is the thread running this hook, alive while it runs;
            // re-arming its own hook from inside the hook is allowed by Lua.
            unsafe {
                if killed {
                    let hook = ffi::lua_gethook(state);
                    ffi::lua_sethook(state, hook, ffi::lua_gethookmask(state), 1);
                }
                if ffi::lua_isyieldable(state) != 0 {
                    preemption.preempted.borrow_mut().push(state as usize);
                    preemption.slice_over.set(true);
                    return Ok(mlua::VmState::Yield);
                }
            }
            terminated()
        },
    )
}

/// Runs `f(args)` on a new Lua thread driven by our executor (through the driver).
async fn drive<R: mlua::FromLuaMulti>(
    lua: &Lua,
    f: Function,
    args: impl mlua::IntoLuaMulti,
) -> mlua::Result<R> {
    let (preemption, driver) = {
        let support = lua
            .app_data_ref::<Support>()
            .expect("new_state installs the driver");
        (support.preemption.clone(), support.driver.clone())
    };
    let thread = lua.create_thread(driver)?;
    let state = thread.state() as usize;
    preemption.drivers.borrow_mut().push(state);
    let _guard = tasks::DriverGuard(preemption.clone(), state);
    let mut args = args.into_lua_multi(lua)?;
    args.push_front(LuaValue::Function(f));
    tasks::no_lost_wake(&preemption, thread.into_async(args)?).await
}

async fn call(script: &Script, args: Args, ctx: &ProcessCtx) -> mlua::Result<ExitResult> {
    let lua = new_state(script, ctx, args.words.clone().unwrap_or_default())?;
    let args = args.values;
    // Taken before the script runs: a script may replace the global.
    let xpcall: Function = lua.globals().get("xpcall")?;
    let handler = lua.create_function(|lua, msg: LuaValue| {
        let text = match &msg {
            LuaValue::String(s) => s.to_string_lossy(),
            // An error raised by a Rust function already carries mlua's traceback; keep
            // only its cause, since ours follows.
            LuaValue::Error(e) => match e.as_ref() {
                mlua::Error::CallbackError { cause, .. } => cause.to_string(),
                other => other.to_string(),
            },
            other => other.to_string()?,
        };
        // Our own frames (the `xpcall` trampoline in `support.lua`) are not the script's.
        let trace = lua.traceback(Some(&text), 1)?.to_string_lossy();
        let trace: Vec<&str> = trace
            .lines()
            .filter(|l| !l.starts_with("\twippy:") && *l != "\t[C]: in field 'xpcall'")
            .collect();
        Ok(trace.join("\n"))
    })?;
    let chunk = lua
        .load(&script.bytecode[..])
        .set_name(&script.name)
        .set_mode(ChunkMode::Binary)
        .into_function()?;
    let returned = match protected(&lua, &xpcall, &handler, chunk, Vec::new()).await? {
        Ok(values) => values.into_iter().next().unwrap_or(LuaValue::Nil),
        Err(message) => {
            return Ok(ExitReason::failed(format!("lua process {}: {message}", script.id)).into())
        }
    };
    let main: Option<Function> = match &returned {
        LuaValue::Table(t) => t.get(script.method.as_str())?,
        LuaValue::Function(f) if script.method == "main" => Some(f.clone()),
        _ => lua.globals().get(script.method.as_str())?,
    };
    let Some(main) = main else {
        return Ok(ExitReason::failed(format!(
            "lua process {}: the script must return a table with a function `{}` (e.g. `return {{ {} = {} }}`)",
            script.id, script.method, script.method, script.method
        ))
        .into());
    };
    let args = args
        .iter()
        .map(|a| to_lua(&lua, a))
        .collect::<mlua::Result<Vec<_>>>()?;
    let main_run: tasks::Run<'_> = Box::pin(protected(&lua, &xpcall, &handler, main, args));
    let start = |f: Function| -> tasks::Run<'_> {
        Box::pin(protected(&lua, &xpcall, &handler, f, Vec::new()))
    };
    let (preemption, spawned) = {
        let support = lua
            .app_data_ref::<Support>()
            .expect("new_state installs the support");
        (support.preemption.clone(), support.spawned.clone())
    };
    let out = match tasks::with_spawned(&preemption, &spawned, main_run, start).await? {
        Ok(out) => out,
        Err(message) => return Ok(ExitReason::failed(message).into()),
    };
    // Wippy's rule: the first value is the result; a second one that is not nil (an
    // error) fails the call.
    let mut out = out.into_iter();
    let value = match out.next() {
        None => Value::Null,
        Some(v) => from_lua(&v)?,
    };
    match out.next() {
        None | Some(LuaValue::Nil) => Ok(ExitResult::ok(value)),
        Some(error) => Ok(ExitReason::failed(error.to_string()?).into()),
    }
}

/// Runs `f(args)` under `xpcall` with the traceback `handler`, on our executor: its
/// results, or its error message (with the traceback).
async fn protected(
    lua: &Lua,
    xpcall: &Function,
    handler: &Function,
    f: Function,
    args: Vec<LuaValue>,
) -> mlua::Result<Result<Vec<LuaValue>, String>> {
    let mut call_args = Vec::with_capacity(args.len() + 2);
    call_args.push(LuaValue::Function(f));
    call_args.push(LuaValue::Function(handler.clone()));
    call_args.extend(args);
    let mut out: Vec<LuaValue> =
        drive::<Variadic<LuaValue>>(lua, xpcall.clone(), Variadic::from_iter(call_args))
            .await?
            .into_iter()
            .collect();
    if out.is_empty() {
        return Ok(Ok(out));
    }
    if matches!(out.remove(0), LuaValue::Boolean(true)) {
        return Ok(Ok(out));
    }
    let message = out
        .first()
        .map(|m| m.to_string())
        .transpose()?
        .unwrap_or_default();
    Ok(Err(message))
}
