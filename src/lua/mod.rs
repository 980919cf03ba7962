//! `process.lua` entries: Lua 5.4 (mlua, vendored) processes on the same hosts and
//! executors as wasm ones. A Lua process is one task; its blocking calls (`receive`,
//! `time.sleep`) park only that task, and an instruction-count hook yields every
//! [`INSTRUCTION_SLICE`] instructions, so a busy Lua loop is preempted like a wasm one.
//!
//! The sandbox: the `table`, `string`, `math`, `utf8` and `coroutine` libraries, `print`
//! (to the terminal or the host's log), and `require` for `process` and `time` only. No
//! `io`, `os`, `package` or `debug`: a script reaches the world through processes.

mod convert;
mod process_api;
mod time_api;

use std::sync::{Arc, Weak};

use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value as LuaValue, Variadic};

use crate::event::ExitResult;
use crate::registry::{EntryConfig, EntryId, LoadErrors, Location, LuaSource, Problem};
use crate::runtime::log::Stream;
use crate::runtime::{process, Body, Kernel, ProcessCtx};
use crate::value::Value;

pub use convert::{from_lua, to_lua};

/// Lua VM instructions per Step: a busy script yields after this many.
pub const INSTRUCTION_SLICE: u32 = 10_000;

/// Memory a Lua process may allocate.
pub const MEMORY_LIMIT: usize = 256 << 20;

struct Script {
    id: EntryId,
    name: String,
    source: String,
    method: String,
}

/// Reads and syntax-checks every `process.lua` entry, and makes each spawnable.
/// All-or-nothing, like the rest of loading.
pub fn prepare(kernel: &Arc<Kernel>) -> Result<(), LoadErrors> {
    let mut problems = Vec::new();
    for entry in kernel.project.registry.entries() {
        let EntryConfig::Lua(lua) = &entry.config else {
            continue;
        };
        let at = Location::entry(&entry.file, &entry.id).with_field("source");
        let (source, name) = match &lua.source {
            LuaSource::Inline(code) => (code.clone(), format!("{}", entry.id)),
            LuaSource::File(path) => match std::fs::read_to_string(path) {
                Ok(code) => (code, path.display().to_string()),
                Err(_) => {
                    problems.push(Problem::new(
                        at,
                        format!("failed to open file: {}", path.display()),
                    ));
                    continue;
                }
            },
        };
        if let Err(e) = Lua::new().load(&source).set_name(&name).into_function() {
            problems.push(Problem::new(at, format!("lua syntax error: {e}")));
            continue;
        }
        let script = Arc::new(Script {
            id: entry.id.clone(),
            name,
            source,
            method: lua.method.clone(),
        });
        kernel.register(
            entry.id.clone(),
            Arc::new(move |_, args, kernel| body(script.clone(), args, kernel)),
        );
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(LoadErrors { problems })
    }
}

fn body(script: Arc<Script>, args: Vec<Value>, kernel: Weak<Kernel>) -> Body {
    Box::new(move |ctx: ProcessCtx| {
        Box::pin(async move {
            let call = Box::pin(run(&script, args, kernel, &ctx));
            process::race(call, &ctx, None).await
        })
    })
}

async fn run(
    script: &Script,
    args: Vec<Value>,
    kernel: Weak<Kernel>,
    ctx: &ProcessCtx,
) -> ExitResult {
    match call(script, args, kernel, ctx).await {
        Ok(result) => result,
        Err(e) => ExitResult::failed(format!("lua process {}: {e}", script.id)),
    }
}

fn new_state(ctx: &ProcessCtx, kernel: Weak<Kernel>) -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::UTF8 | StdLib::COROUTINE,
        LuaOptions::new(),
    )?;
    lua.set_memory_limit(MEMORY_LIMIT)?;
    let me = process_api::Me {
        kernel,
        pid: ctx.pid.clone(),
        inbox: ctx
            .inbox
            .clone()
            .expect("the host gives Lua processes an inbox"),
    };
    let process = process_api::module(&lua, me)?;
    let time = time_api::module(&lua)?;
    let globals = lua.globals();
    globals.set("process", process.clone())?;
    globals.set("time", time.clone())?;
    let modules = lua.create_table()?;
    modules.set("process", process)?;
    modules.set("time", time)?;
    globals.set(
        "require",
        lua.create_function(move |_, name: String| {
            modules.get::<Option<Table>>(name.as_str())?.ok_or_else(|| {
                mlua::Error::runtime(format!(
                    "module not found: {name} (available: process, time)"
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
                println!("{text}");
            } else {
                for line in text.split('\n') {
                    log.emit(&pid, Stream::Stdout, line);
                }
            }
            Ok(())
        })?,
    )?;
    // Preemption: every INSTRUCTION_SLICE instructions, the thread our executor drives
    // yields (one Step). A script's own coroutine must not: a yield there would return
    // to its resumer as if the coroutine had yielded. A busy coroutine is not preempted,
    // but a kill still ends it (the hook raises an error until it unwinds).
    let kill = ctx.kill.clone();
    lua.set_global_hook(
        mlua::HookTriggers::new().every_nth_instruction(INSTRUCTION_SLICE),
        move |lua, _| {
            let driving = lua
                .app_data_ref::<Driver>()
                .is_some_and(|d| d.0 == lua.current_thread());
            if driving {
                Ok(mlua::VmState::Yield)
            } else if kill.is_killed() {
                Err(mlua::Error::runtime("process terminated"))
            } else {
                Ok(mlua::VmState::Continue)
            }
        },
    )?;
    Ok(lua)
}

/// The Lua thread our executor drives (the one that may yield to it).
struct Driver(mlua::Thread);

/// Runs `f(args)` on a new Lua thread driven by our executor.
async fn drive<R: mlua::FromLuaMulti>(
    lua: &Lua,
    f: Function,
    args: impl mlua::IntoLuaMulti,
) -> mlua::Result<R> {
    let thread = lua.create_thread(f)?;
    lua.set_app_data(Driver(thread.clone()));
    thread.into_async(args)?.await
}

async fn call(
    script: &Script,
    args: Vec<Value>,
    kernel: Weak<Kernel>,
    ctx: &ProcessCtx,
) -> mlua::Result<ExitResult> {
    let lua = new_state(ctx, kernel)?;
    let chunk = lua
        .load(&script.source)
        .set_name(&script.name)
        .into_function()?;
    let returned: LuaValue = drive(&lua, chunk, ()).await?;
    let main: Option<Function> = match &returned {
        LuaValue::Table(t) => t.get(script.method.as_str())?,
        LuaValue::Function(f) if script.method == "main" => Some(f.clone()),
        _ => lua.globals().get(script.method.as_str())?,
    };
    let Some(main) = main else {
        return Ok(ExitResult::failed(format!(
            "lua process {}: the script must return a table with a function `{}` (e.g. `return {{ {} = {} }}`)",
            script.id, script.method, script.method, script.method
        )));
    };
    let handler = lua.create_function(|lua, msg: LuaValue| {
        let text = match &msg {
            LuaValue::String(s) => s.to_string_lossy(),
            other => other.to_string()?,
        };
        lua.traceback(Some(&text), 1)
    })?;
    let mut call_args = vec![LuaValue::Function(main), LuaValue::Function(handler)];
    for a in &args {
        call_args.push(to_lua(&lua, a)?);
    }
    let xpcall: Function = lua.globals().get("xpcall")?;
    let mut out: Variadic<LuaValue> = drive(&lua, xpcall, Variadic::from_iter(call_args)).await?;
    if out.is_empty() {
        return Ok(ExitResult::ok(Value::Null));
    }
    let ok = matches!(out.remove(0), LuaValue::Boolean(true));
    if !ok {
        let message = out
            .first()
            .map(|m| m.to_string())
            .transpose()?
            .unwrap_or_default();
        return Ok(ExitResult::failed(message));
    }
    let value = match out.len() {
        0 => Value::Null,
        1 => from_lua(&out[0])?,
        _ => Value::List(out.iter().map(from_lua).collect::<mlua::Result<_>>()?),
    };
    Ok(ExitResult::ok(value))
}
