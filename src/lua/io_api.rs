//! The `io` module (Wippy's, for processes on a `terminal.host`): `print`, `write`,
//! `eprint`, `flush`, `readline`, `read`, `args`. Elsewhere every call returns
//! `nil, err`, as in Wippy. A read parks only its process: a helper thread reads the
//! terminal and hands the text over through a mailbox.

use std::io::{BufRead, Read, Write};

use mlua::{Lua, Table, Value as LuaValue, Variadic};

use crate::kernel::event::{Mailbox, Message};
use crate::value::Value;

const UNAVAILABLE: &str = "io is only available to processes on a terminal.host";

fn text(args: &Variadic<LuaValue>, separator: &str) -> mlua::Result<String> {
    Ok(args
        .iter()
        .map(|v| v.to_string())
        .collect::<mlua::Result<Vec<_>>>()?
        .join(separator))
}

/// What a terminal read returned.
enum Read1 {
    Line,
    Bytes(usize),
}

/// Reads on a helper thread; the process waits on a mailbox, so its worker keeps running
/// the others.
async fn read_terminal(how: Read1) -> Option<String> {
    let inbox = Mailbox::new();
    let sender = inbox.clone();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let got = match how {
            Read1::Line => {
                let mut line = String::new();
                match stdin.lock().read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
                }
            }
            Read1::Bytes(n) => {
                let mut buf = vec![0; n];
                match stdin.lock().read(&mut buf) {
                    Ok(0) | Err(_) => None,
                    Ok(k) => Some(String::from_utf8_lossy(&buf[..k]).into_owned()),
                }
            }
        };
        let _ = sender.post(Message {
            from: None,
            topic: String::new(),
            payload: got.map_or(Value::Null, Value::String),
        });
    });
    match inbox.next_message(None).await?.payload {
        Value::String(s) => Some(s),
        _ => None,
    }
}

pub fn module(lua: &Lua, terminal: bool, words: Vec<String>) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let unavailable = || Ok((None::<bool>, Some(UNAVAILABLE)));
    for (name, separator, newline, stderr) in [
        ("print", "\t", true, false),
        ("write", "", false, false),
        ("eprint", "\t", true, true),
    ] {
        t.set(
            name,
            lua.create_function(move |_, args: Variadic<LuaValue>| {
                if !terminal {
                    return unavailable();
                }
                let mut out = text(&args, separator)?;
                if newline {
                    out.push('\n');
                }
                // A closed stdout (`| head`) is not the script's failure.
                let _ = if stderr {
                    std::io::stderr().lock().write_all(out.as_bytes())
                } else {
                    std::io::stdout().lock().write_all(out.as_bytes())
                };
                Ok((Some(true), None))
            })?,
        )?;
    }
    t.set(
        "flush",
        lua.create_function(move |_, ()| {
            if !terminal {
                return unavailable();
            }
            let _ = std::io::stdout().lock().flush();
            Ok((Some(true), None))
        })?,
    )?;
    t.set(
        "readline",
        lua.create_async_function(move |_, ()| async move {
            if !terminal {
                return Ok((None, Some(UNAVAILABLE.to_owned())));
            }
            Ok(match read_terminal(Read1::Line).await {
                Some(line) => (Some(line), None),
                None => (None, Some("end of input".to_owned())),
            })
        })?,
    )?;
    t.set(
        "read",
        lua.create_async_function(move |_, n: Option<usize>| async move {
            if !terminal {
                return Ok((None, Some(UNAVAILABLE.to_owned())));
            }
            let n = n.unwrap_or(1024).clamp(1, 1 << 20);
            Ok(match read_terminal(Read1::Bytes(n)).await {
                Some(text) => (Some(text), None),
                None => (None, Some("end of input".to_owned())),
            })
        })?,
    )?;
    t.set(
        "args",
        lua.create_function(move |lua, ()| lua.create_sequence_from(words.clone()))?,
    )?;
    Ok(t)
}
