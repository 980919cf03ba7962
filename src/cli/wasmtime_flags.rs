//! `wasmtime run`'s `-W` (wasm) and `-S` (WASI) options, mapped onto ours, so a script
//! written for wasmtime keeps working; an option we cannot honour is refused by name.

use super::FileFlags;

/// Applies every `-W`/`-S` option (each may hold several, comma-separated: `-W
/// fuel=10,timeout=1s`) to `flags`.
pub fn apply(flags: &mut FileFlags) -> Result<(), String> {
    for option in split(&flags.wasm_options.clone()) {
        wasm_option(flags, &option)?;
    }
    for option in split(&flags.wasi_options.clone()) {
        wasi_option(flags, &option)?;
    }
    Ok(())
}

fn split(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|o| o.trim().to_owned())
        .filter(|o| !o.is_empty())
        .collect()
}

/// `key` or `key=value`; a bare key means yes.
fn key_value(option: &str) -> (&str, &str) {
    option.split_once('=').unwrap_or((option, "y"))
}

fn yes(flag: &str, value: &str) -> Result<bool, String> {
    match value {
        "y" | "yes" | "true" => Ok(true),
        "n" | "no" | "false" => Ok(false),
        _ => Err(format!("{flag}: expected y or n, got {value:?}")),
    }
}

fn number(flag: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: expected a number, got {value:?}"))
}

/// wasmtime's durations: `500ms`, `2s`, `1m`, `1h` (a bare number is seconds).
fn duration_ms(flag: &str, value: &str) -> Result<u64, String> {
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (n, unit) = value.split_at(split);
    let n = number(flag, n)?;
    let scale = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "{flag}: expected a duration like 500ms or 2s, got {value:?}"
            ))
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{flag}: {value} is too long"))
}

fn wasm_option(flags: &mut FileFlags, option: &str) -> Result<(), String> {
    let (key, value) = key_value(option);
    let flag = format!("-W {key}");
    match key {
        "fuel" => flags.fuel = Some(number(&flag, value)?),
        "max-memory-size" => flags.memory_bytes = Some(number(&flag, value)?),
        "timeout" => flags.max_execution_ms = Some(duration_ms(&flag, value)?),
        "unknown-imports-trap" => flags.allow_unknown_imports = yes(&flag, value)?,
        // Always on here: toolchains emit them, and turning them off would refuse valid
        // programs.
        "exceptions" if yes(&flag, value)? => {}
        _ => {
            return Err(format!(
                "-W {option} is not supported by wippy run (supported: fuel=N, max-memory-size=BYTES, timeout=DURATION, unknown-imports-trap, exceptions)"
            ))
        }
    }
    Ok(())
}

fn wasi_option(flags: &mut FileFlags, option: &str) -> Result<(), String> {
    let (key, value) = key_value(option);
    let flag = format!("-S {key}");
    match key {
        "http" => flags.http = yes(&flag, value)?,
        // Sockets are linked and the host's network granted, as `wasmtime run` does.
        "inherit-network" => flags.network = yes(&flag, value)?,
        "inherit-env" if yes(&flag, value)? => {
            let given: Vec<String> = flags.env.iter().map(|(k, _)| k.clone()).collect();
            // `--env` given on the command line wins over the inherited value.
            // A variable that is not valid Unicode cannot be passed as text: skipped.
            let inherited = std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .filter(|(k, _)| !given.contains(k));
            flags.env.extend(inherited.collect::<Vec<_>>());
        }
        "inherit-env" => {}
        // The command-line interfaces are always there.
        "cli" if yes(&flag, value)? => {}
        _ => {
            return Err(format!(
                "-S {option} is not supported by wippy run (supported: http, inherit-network, inherit-env, cli)"
            ))
        }
    }
    Ok(())
}

/// `--invoke 'f(1, "two")'`, wasmtime's call syntax for components: the function's name,
/// and its arguments as words (quotes around a string are dropped).
pub fn invoke_call(invoke: &str) -> Option<(String, Vec<String>)> {
    let (name, rest) = invoke.split_once('(')?;
    let inner = rest.trim_end().strip_suffix(')')?;
    let args = if inner.trim().is_empty() {
        Vec::new()
    } else {
        inner
            .split(',')
            .map(|a| {
                let a = a.trim();
                a.strip_prefix('"')
                    .and_then(|a| a.strip_suffix('"'))
                    .unwrap_or(a)
                    .to_owned()
            })
            .collect()
    };
    Some((name.trim().to_owned(), args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(w: &[&str], s: &[&str]) -> Result<FileFlags, String> {
        let mut flags = FileFlags {
            wasm_options: w.iter().map(|o| o.to_string()).collect(),
            wasi_options: s.iter().map(|o| o.to_string()).collect(),
            ..FileFlags::default()
        };
        apply(&mut flags).map(|()| flags)
    }

    #[test]
    fn wasmtime_options_map_onto_ours_or_are_refused_by_name() {
        let f = applied(&["fuel=10,timeout=2s", "max-memory-size=65536"], &["http"]).unwrap();
        assert_eq!(
            (f.fuel, f.max_execution_ms, f.memory_bytes, f.http),
            (Some(10), Some(2000), Some(65536), true)
        );
        assert_eq!(
            applied(&["timeout=250ms"], &[]).unwrap().max_execution_ms,
            Some(250)
        );
        assert!(
            applied(&["unknown-imports-trap"], &[])
                .unwrap()
                .allow_unknown_imports
        );
        assert!(applied(&["exceptions"], &["cli"]).is_ok());
        let refused = applied(&["epoch-interruption"], &[]).unwrap_err();
        assert!(
            refused.starts_with("-W epoch-interruption is not supported"),
            "{refused}"
        );
        assert!(applied(&[], &["tcp"])
            .unwrap_err()
            .contains("-S tcp is not supported"));
        assert!(applied(&["fuel=lots"], &[])
            .unwrap_err()
            .contains("expected a number"));
    }

    #[test]
    fn invoke_call_syntax_gives_the_name_and_the_arguments() {
        assert_eq!(
            invoke_call(r#"greet("Bo", 2)"#),
            Some(("greet".to_owned(), vec!["Bo".to_owned(), "2".to_owned()]))
        );
        assert_eq!(invoke_call("run()"), Some(("run".to_owned(), vec![])));
        assert_eq!(invoke_call("compute"), None);
    }
}
