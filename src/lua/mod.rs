//! `process.lua` entries: Lua 5.4 (mlua, vendored) processes on the same hosts and
//! executors as wasm ones. A Lua process is one task; its blocking calls (`receive`,
//! `time.sleep`) park only that task, and an instruction-count hook yields every
//! [`INSTRUCTION_SLICE`] instructions, so a busy Lua loop is preempted like a wasm one.
//!
//! The sandbox: the `table`, `string`, `math`, `utf8` and `coroutine` libraries, `print`
//! (to the terminal or the host's log), and `require` for `process`, `time`, `system` and
//! `io` (Wippy's: the terminal's streams, for processes on a `terminal.host` only). No
//! Lua `io`, `os`, `package`, `debug`, `loadfile`, `dofile` or `string.dump`: a script
//! reaches the world through processes. `load` takes text only, `setmetatable` refuses `__gc`
//! (finalizers run with hooks off) and `collectgarbage` only collects and measures (see
//! `support.lua`).

mod convert;
mod dialect;
mod io_api;
#[cfg(test)]
mod patterns_tests;
mod process_api;
mod system_api;
mod time_api;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::{Arc, OnceLock, Weak};

use mlua::{ffi, ChunkMode, Function, Lua, LuaOptions, StdLib, Table, Value as LuaValue, Variadic};

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
    source: String,
    method: String,
    kernel: Arc<KernelSlot>,
}

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
        for entry in registry.entries() {
            let EntryConfig::Lua(lua) = &entry.config else {
                continue;
            };
            if diags.has_problem(&entry.id) {
                continue;
            }
            let at = Location::entry(&entry.file, &entry.id).with_field("source");
            let (source, name) = match &lua.source {
                LuaSource::Inline(code) => (code.clone(), format!("{}", entry.id)),
                LuaSource::File(path) => match read_script(registry.root(), path) {
                    Ok(code) => (code, path.display().to_string()),
                    Err(message) => {
                        diags.problem(at, message);
                        continue;
                    }
                },
            };
            // Wippy's dialect: type annotations erased, lines kept.
            let source = dialect::erase_types(&source);
            if let Err(e) = Lua::new()
                .load(&source)
                .set_name(&name)
                .set_mode(ChunkMode::Text)
                .into_function()
            {
                diags.problem(at, format!("lua syntax error: {e}"));
                continue;
            }
            let script = Script {
                id: entry.id.clone(),
                name,
                source,
                method: lua.method.clone(),
                kernel: self.kernel.clone(),
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
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE,
        LuaOptions::new(),
    )?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let (kernel, services) = script.kernel.get().cloned().unwrap_or_default();
    let me = process_api::Me {
        kernel,
        listened: Default::default(),
        pid: ctx.pid.clone(),
        inbox: ctx
            .inbox
            .clone()
            .expect("the host gives Lua processes an inbox"),
    };
    let process = process_api::module(&lua, me)?;
    let time = time_api::module(&lua)?;
    let system = system_api::module(&lua, services)?;
    let io = io_api::module(&lua, ctx.settings.inherit_stdio, words)?;
    let globals = lua.globals();
    globals.set("process", process.clone())?;
    globals.set("time", time.clone())?;
    let modules = lua.create_table()?;
    modules.set("process", process)?;
    modules.set("time", time)?;
    modules.set("system", system)?;
    modules.set("io", io)?;
    globals.set(
        "require",
        lua.create_function(move |_, name: String| {
            modules.get::<Option<Table>>(name.as_str())?.ok_or_else(|| {
                mlua::Error::runtime(format!(
                    "module not found: {name} (available: process, time, system, io)"
                ))
            })
        })?,
    )?;
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

/// What the preemption hook and the trampolines share.
#[derive(Default)]
struct Preemption {
    /// The `lua_State` of the thread mlua drives: never yielded by the hook.
    driver: Cell<usize>,
    /// Threads the hook yielded whose resumer has not looked yet (at most one per level of
    /// coroutine nesting).
    preempted: RefCell<Vec<usize>>,
}

impl Preemption {
    /// Whether the hook preempted `thread` (a `lua_State` address) since the last look.
    fn take(&self, thread: usize) -> bool {
        let mut preempted = self.preempted.borrow_mut();
        let before = preempted.len();
        preempted.retain(|t| *t != thread);
        preempted.len() != before
    }
}

/// What a Lua state keeps for [`drive`].
struct Support {
    preemption: Rc<Preemption>,
    driver: Function,
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
    let preemption = Rc::new(Preemption::default());
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
    let string_meta: Table = lua.load("return getmetatable('')").eval()?;
    string_meta.raw_set("__metatable", false)?;
    // Long C calls the hook cannot interrupt get Lua paths (see `bounded.lua`).
    let patterns: Table = builtin(lua, &PATTERNS)?.call(())?;
    builtin(lua, &BOUNDED)?.call::<()>((
        patterns,
        string.clone(),
        globals.get::<Table>("table")?,
    ))?;
    // They read host files; `string.dump` makes bytecode, which `load` refuses anyway.
    globals.set("loadfile", LuaValue::Nil)?;
    globals.set("dofile", LuaValue::Nil)?;
    string.set("dump", LuaValue::Nil)?;
    lua.set_app_data(Support {
        preemption: preemption.clone(),
        driver,
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
            if state as usize == preemption.driver.get() {
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
    preemption.driver.set(thread.state() as usize);
    let mut args = args.into_lua_multi(lua)?;
    args.push_front(LuaValue::Function(f));
    thread.into_async(args)?.await
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
        lua.traceback(Some(&text), 1)
    })?;
    let chunk = lua
        .load(&script.source)
        .set_name(&script.name)
        .set_mode(ChunkMode::Text)
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
    let out = match protected(&lua, &xpcall, &handler, main, args).await? {
        Ok(out) => out,
        Err(message) => return Ok(ExitReason::failed(message).into()),
    };
    let value = match out.len() {
        0 => Value::Null,
        1 => from_lua(&out[0])?,
        _ => Value::List(convert::from_lua_many(out.iter())?),
    };
    Ok(ExitResult::ok(value))
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
