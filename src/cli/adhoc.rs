//! `wippy run FILE.wasm`: a one-entry project made up in memory for a file, so a file runs
//! through exactly the same loading, checking and running as a registry entry.

use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value as Yaml};
use wippy_wasm::testing::{sha256, to_hex, BinaryKind};
use wippy_wasm::Project;

use super::FileFlags;

/// The made-up project, held in memory.
pub struct AdHoc {
    pub project: Project,
    pub entry: &'static str,
    pub host: &'static str,
}

const ENTRY: &str = "adhoc:main";
const HOST: &str = "adhoc:terminal";

fn map(pairs: Vec<(&str, Yaml)>) -> Yaml {
    Yaml::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Yaml::String(k.to_owned()), v))
            .collect::<Mapping>(),
    )
}

fn s(text: impl Into<String>) -> Yaml {
    Yaml::String(text.into())
}

fn directory(name: &str, path: &Path) -> Yaml {
    map(vec![
        ("name", s(name)),
        ("kind", s("fs.directory")),
        ("directory", s(path.to_string_lossy())),
    ])
}

/// `HOST[::GUEST]`: the guest path defaults to the host path, made absolute (`.` → `/`).
fn mount(spec: &str) -> Result<(PathBuf, String), String> {
    let (host, guest) = match spec.split_once("::") {
        Some((h, g)) => (h, g.to_owned()),
        None => {
            let rel = spec.trim_start_matches("./").trim_end_matches('/');
            let guest = if spec.starts_with('/') {
                spec.to_owned()
            } else if rel.is_empty() || rel == "." {
                "/".to_owned()
            } else {
                format!("/{rel}")
            };
            (spec, guest)
        }
    };
    let host = std::fs::canonicalize(host)
        .ok()
        .filter(|p| p.is_dir())
        .ok_or_else(|| format!("--dir {spec}: {host} is not a directory"))?;
    if !guest.starts_with('/') {
        return Err(format!(
            "--dir {spec}: the guest path {guest} must be absolute"
        ));
    }
    Ok((host, guest))
}

pub fn project_for(file: &Path, flags: &FileFlags) -> Result<AdHoc, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let kind = BinaryKind::detect(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let file = std::fs::canonicalize(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (folder, name) = (
        file.parent().expect("a file has a parent"),
        file.file_name()
            .expect("a file has a name")
            .to_string_lossy(),
    );
    let mut entries = vec![directory("file_dir", folder)];

    let mut mounts = Vec::new();
    for (i, spec) in flags.dirs.iter().enumerate() {
        let (host, guest) = mount(spec)?;
        let fs = format!("dir{i}");
        entries.push(directory(&fs, &host));
        mounts.push(map(vec![("fs", s(fs)), ("guest", s(guest))]));
    }

    let mut env = Vec::new();
    if !flags.env.is_empty() {
        let values = flags
            .env
            .iter()
            .map(|(k, v)| (s(k.clone()), s(v.clone())))
            .collect::<Mapping>();
        entries.push(map(vec![
            ("name", s("vars")),
            ("kind", s("env.storage.static")),
            ("values", Yaml::Mapping(values)),
        ]));
        for (i, (name, _)) in flags.env.iter().enumerate() {
            let id = format!("var{i}");
            entries.push(map(vec![
                ("name", s(id.clone())),
                ("kind", s("env.variable")),
                ("variable", s(name.clone())),
                ("storage", s("vars")),
            ]));
            env.push(map(vec![("id", s(id)), ("name", s(name.clone()))]));
        }
    }

    // As `wasmtime run`: wasi:http only when `-S http` asks for it; sockets always linked,
    // with the host's network only when `-S inherit-network` asks (`run.rs` tells the
    // runtime), so without it a socket can be made but no address is reached.
    let (method, imports): (String, Vec<&str>) = match kind {
        BinaryKind::CoreModule => (
            flags.invoke.clone().unwrap_or_else(|| "_start".to_owned()),
            vec!["wasi1"],
        ),
        BinaryKind::Component => {
            let mut imports = vec![
                "wasi:cli",
                "wasi:io",
                "wasi:clocks",
                "wasi:filesystem",
                "wasi:random",
                "wasi:sockets",
            ];
            if flags.http {
                imports.push("wasi:http");
            }
            let method = flags
                .invoke
                .clone()
                .unwrap_or_else(|| "wasi:cli/run#run".to_owned());
            (method, imports)
        }
    };
    let mut limits = Vec::new();
    if let Some(f) = flags.fuel {
        limits.push(("fuel", Yaml::Number(f.into())));
    }
    if let Some(ms) = flags.max_execution_ms {
        limits.push(("max_execution_ms", Yaml::Number(ms.into())));
    }
    // Like `wasmtime run`: no memory cap beyond wasm's own (4 GiB for a 32-bit memory)
    // unless a flag asks for one; registry entries keep the smaller default.
    let memory_bytes = flags.memory_bytes.unwrap_or(WASM32_MEMORY_BYTES);
    limits.push(("memory_bytes", Yaml::Number(memory_bytes.into())));
    entries.push(map(vec![
        ("name", s("main")),
        ("kind", s("process.wasm")),
        ("fs", s("file_dir")),
        ("path", s(format!("/{name}"))),
        ("hash", s(format!("sha256:{}", to_hex(&sha256(&bytes))))),
        ("method", s(method)),
        (
            "imports",
            Yaml::Sequence(imports.iter().map(|i| s(*i)).collect()),
        ),
        (
            "wasi",
            map(vec![
                ("env", Yaml::Sequence(env)),
                ("mounts", Yaml::Sequence(mounts)),
            ]),
        ),
        ("limits", map(limits)),
        (
            "allow_unknown_imports",
            Yaml::Bool(flags.allow_unknown_imports),
        ),
    ]));
    entries.push(map(vec![
        ("name", s("terminal")),
        ("kind", s("terminal.host")),
    ]));

    let index = map(vec![
        ("version", s("1.0")),
        ("namespace", s("adhoc")),
        ("entries", Yaml::Sequence(entries)),
    ]);
    let text = serde_yaml_ng::to_string(&index).expect("a YAML value serializes");
    Ok(AdHoc {
        project: Project::in_memory(folder).with_index("_index.yaml", text),
        entry: ENTRY,
        host: HOST,
    })
}

/// The most a 32-bit linear memory can hold.
const WASM32_MEMORY_BYTES: u64 = 4 << 30;
