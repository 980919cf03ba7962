//! Property tests (issue 11): the YAML loader never panics and places every problem, and
//! `Value` conversions round-trip (core wasm values, component values, Lua).
//!
//! `cargo test --test properties`; `PROPTEST_CASES=10000 cargo test --test properties`
//! runs each property longer. A failing case is shrunk and printed, and proptest keeps it
//! in `tests/properties.proptest-regressions` so that it is tried first next time.
//!
//! Lossy conversions, by design (value.rs, lua/convert.rs) and checked here as such:
//! - through Lua, `null` inside a list is dropped (later items move down), a `null` map
//!   value is dropped, an empty map comes back as an empty list, and bytes that are valid
//!   UTF-8 come back as a string;
//! - a component `u64` above `i64::MAX` becomes a float, which cannot be passed back as
//!   a `u64` (such values are left out of the component round trip);
//! - an `f32` signaling NaN comes back quiet (any NaN is accepted as any NaN);
//! - an int in `(i32::MAX, u32::MAX]` passed as `i32` comes back negative (wasm's `i32`
//!   is sign-agnostic).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::Union;
use serde_yaml_ng::{Mapping, Value as Yaml};
use wasmtime::component::{Component, Type, Val as CVal};
use wasmtime::{Val, ValType};
use wippy_wasm::registry::{LoadErrors, Problem, Registry, KNOWN_IMPORTS};
use wippy_wasm::testing::convert;
use wippy_wasm::Value;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(256),
        ..ProptestConfig::default()
    }
}

// ── the YAML loader ──────────────────────────────────────────────────────────

const NAMESPACE: &str = "t";

/// Every kind the registry knows, plus ones it does not.
const KINDS: &[&str] = &[
    "fs.directory",
    "process.wasm",
    "function.wasm",
    "process.host",
    "terminal.host",
    "env.variable",
    "env.storage.os",
    "env.storage.static",
    "env.storage.memory",
    "process.lua",
    "process.service",
    "http.router",
    "",
];

/// Every field name some kind uses, and a few none does.
const FIELDS: &[&str] = &[
    "directory",
    "mode",
    "auto_init",
    "fs",
    "path",
    "hash",
    "method",
    "imports",
    "wasi",
    "limits",
    "wit",
    "allow_unknown_imports",
    "pool",
    "transport",
    "host",
    "lifecycle",
    "variable",
    "storage",
    "default",
    "read_only",
    "values",
    "source",
    "modules",
    "process",
    "input",
    "meta",
    "bogus",
    "Name",
];

/// Field names inside the nested mappings (`wasi`, `limits`, `host`, `lifecycle`, ...).
const SUBFIELDS: &[&str] = &[
    "args",
    "cwd",
    "env",
    "mounts",
    "stdio",
    "id",
    "name",
    "required",
    "guest",
    "fs",
    "read_only",
    "fuel",
    "memory_bytes",
    "max_execution_ms",
    "max_stack_bytes",
    "workers",
    "queue_size",
    "max_processes",
    "auto_start",
    "depends_on",
    "restart",
    "command",
    "short",
    "bogus",
];

/// Strings that mean something somewhere: references, paths, hashes, modes, sources.
fn words() -> Vec<String> {
    let good_hash = common::hash_of("misbehave.wasm");
    [
        "files",
        "t:files",
        "host",
        "script",
        "store",
        "other:thing",
        "",
        " ",
        "a:b:c",
        ":x",
        "/misbehave.wasm",
        "/../etc/passwd",
        "/missing.wasm",
        "burn",
        "sha256:00",
        "md5:abc",
        good_hash.as_str(),
        "0755",
        "0o700",
        "9999",
        "log",
        "null",
        "inherit",
        "/",
        "relative",
        "wasi:cli",
        "wasi1",
        "wasi:http@0.2.0",
        "bogus:iface",
        "return 1",
        "function main() return 1 end",
        "file://missing.lua",
        "é✓",
        "1.0",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn s(text: &str) -> Yaml {
    Yaml::String(text.to_owned())
}

fn mapping(pairs: Vec<(String, Yaml)>) -> Yaml {
    Yaml::Mapping(
        pairs
            .into_iter()
            .map(|(k, v)| (Yaml::String(k), v))
            .collect(),
    )
}

/// A scalar, a short list or a small mapping: right for some fields, wrong for others.
fn yaml_value() -> impl Strategy<Value = Yaml> {
    let scalar = prop_oneof![
        select(words()).prop_map(Yaml::String),
        any::<i64>().prop_map(|i| Yaml::Number(i.into())),
        (0u64..5000).prop_map(|i| Yaml::Number(i.into())),
        any::<f64>().prop_map(|f| Yaml::Number(f.into())),
        any::<bool>().prop_map(Yaml::Bool),
        Just(Yaml::Null),
        ".{0,12}".prop_map(Yaml::String),
    ];
    scalar.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Yaml::Sequence),
            prop::collection::vec((select(SUBFIELDS), inner), 0..4).prop_map(|pairs| {
                mapping(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// An entry that is close to valid: a name (usually good), a kind from the set the
/// registry knows (usually), and a few fields with values of the right or wrong type.
fn near_entry() -> impl Strategy<Value = Yaml> {
    let name = prop_oneof![
        8 => "[a-z][a-z0-9_]{0,6}".prop_map(Yaml::String),
        1 => Just(s("")),
        1 => Just(s("a:b")),
        1 => Just(Yaml::Number(7.into())),
        1 => Just(Yaml::Null),
    ];
    let kind = prop_oneof![
        10 => select(KINDS).prop_map(s),
        1 => Just(Yaml::Number(1.into())),
        1 => Just(Yaml::Null),
    ];
    let fields = prop::collection::vec((select(FIELDS), yaml_value()), 0..6);
    (
        prop::option::weighted(0.95, name),
        prop::option::weighted(0.95, kind),
        fields,
    )
        .prop_map(|(name, kind, fields)| {
            let mut m = Mapping::new();
            if let Some(name) = name {
                m.insert(s("name"), name);
            }
            if let Some(kind) = kind {
                m.insert(s("kind"), kind);
            }
            for (k, v) in fields {
                m.insert(s(k), v);
            }
            Yaml::Mapping(m)
        })
}

/// A near-valid document: usually a good namespace, entries close to valid, sometimes
/// a non-mapping entry or an unknown top-level key.
fn near_document() -> impl Strategy<Value = String> {
    let namespace = prop_oneof![
        8 => Just(s(NAMESPACE)),
        1 => Just(s("")),
        1 => Just(s("a:b")),
        1 => Just(Yaml::Number(3.into())),
    ];
    let entry = prop_oneof![
        12 => near_entry(),
        1 => yaml_value(),
    ];
    (
        prop::option::weighted(0.9, namespace),
        prop::option::weighted(0.5, prop_oneof![Just(s("1.0")), Just(s("2.0"))]),
        prop::collection::vec(entry, 0..7),
        prop::option::weighted(0.1, yaml_value()),
    )
        .prop_map(|(namespace, version, entries, extra)| {
            let mut doc = Mapping::new();
            if let Some(v) = version {
                doc.insert(s("version"), v);
            }
            if let Some(ns) = namespace {
                doc.insert(s("namespace"), ns);
            }
            // Files and the guests, so that some wasm entries really load.
            let mut all = vec![mapping(vec![
                ("name".into(), s("files")),
                ("kind".into(), s("fs.directory")),
                (
                    "directory".into(),
                    s(&common::guests().display().to_string()),
                ),
            ])];
            all.extend(entries);
            doc.insert(s("entries"), Yaml::Sequence(all));
            if let Some(extra) = extra {
                doc.insert(s("extra"), extra);
            }
            serde_yaml_ng::to_string(&doc).unwrap()
        })
}

/// Text that looks a little like YAML: indentation, keys of the registry, anchors,
/// aliases, merge keys, tags, quotes and flow collections.
fn yamlish_text() -> impl Strategy<Value = String> {
    let tokens = select(vec![
        "namespace: ",
        "namespace: t\n",
        "version: \"1.0\"\n",
        "entries:\n",
        "  - ",
        "    ",
        "name: ",
        "kind: ",
        "process.wasm",
        "fs.directory",
        "process.lua",
        "method: ",
        "limits: ",
        "fuel: ",
        "\n",
        ": ",
        "- ",
        "{",
        "}",
        "[",
        "]",
        ", ",
        "&a ",
        "*a",
        "<<: *a\n",
        "!!binary ",
        "!custom ",
        "---\n",
        "...\n",
        "'",
        "\"",
        "#",
        "|\n",
        ">-\n",
        "?",
        "~",
        "0x1F",
        "1e400",
        "-.inf",
        "\t",
        "\u{feff}",
        "é",
        "x",
    ]);
    prop::collection::vec(tokens, 0..40).prop_map(|t| t.concat())
}

/// `text` written as the only `_index.yaml` of a temporary project.
struct Doc {
    dir: tempfile::TempDir,
    text: String,
}

impl Doc {
    fn new(text: &str) -> Doc {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("_index.yaml"), text).unwrap();
        Doc {
            dir,
            text: text.to_owned(),
        }
    }

    fn index(&self) -> PathBuf {
        self.dir.path().join("_index.yaml")
    }

    fn registry(&self) -> Result<Registry, LoadErrors> {
        Registry::load(self.dir.path())
    }

    /// What `wippy check` does: the registry, then every binary read, verified and
    /// compiled.
    fn check(&self) -> wippy_wasm::Checked {
        let mut builder = wippy_wasm::Runtime::builder();
        builder.cache_dir(None);
        builder.check(&wippy_wasm::Project::folder(self.dir.path()))
    }

    /// The `namespace` of the document as written, when it parses as YAML.
    fn namespace(&self) -> Option<Yaml> {
        let doc: Yaml = serde_yaml_ng::from_str(&self.text).ok()?;
        doc.get("namespace").cloned()
    }

    /// The `entries` of the document as written, when it parses as YAML.
    fn entries(&self) -> Option<Vec<Yaml>> {
        let doc: Yaml = serde_yaml_ng::from_str(&self.text).ok()?;
        match doc.get("entries")? {
            Yaml::Sequence(entries) => Some(entries.clone()),
            _ => None,
        }
    }
}

fn valid_name(v: Option<&Yaml>) -> Option<&str> {
    match v {
        Some(Yaml::String(n)) if !n.is_empty() && !n.contains(':') => Some(n),
        _ => None,
    }
}

/// Every problem (and warning) says where it is: always the file; the entry when the
/// entry can be named, else the field that holds the unnamed entry, the namespace or the
/// version; only a file that is not YAML at all has neither.
fn check_locations(doc: &Doc, problems: &[Problem]) -> Result<(), TestCaseError> {
    let entries = doc.entries();
    let namespace = doc.namespace();
    let index = doc.index();
    for p in problems {
        let at = &p.location;
        prop_assert!(!p.message.is_empty(), "a problem with no message: {p:?}");
        prop_assert_eq!(
            at.file.as_deref(),
            Some(index.as_path()),
            "problem not placed in the file: {}",
            p
        );
        match (&at.entry, at.field.as_deref()) {
            (Some(id), _) => {
                // (A plain scalar is a namespace too: `namespace: 3` is "3".)
                if let Some(Yaml::String(ns)) = &namespace {
                    prop_assert_eq!(id.namespace(), ns.as_str(), "{}", p);
                }
                if let Some(entries) = &entries {
                    let named = entries
                        .iter()
                        .any(|e| valid_name(e.get("name")) == Some(id.name()));
                    prop_assert!(
                        named,
                        "a problem names an entry the file does not have: {p}"
                    );
                }
            }
            (None, Some("namespace" | "version")) => {}
            (None, Some(field)) if field.starts_with("entries[") => {
                let index: usize = field
                    .trim_start_matches("entries[")
                    .trim_end_matches(']')
                    .parse()
                    .map_err(|_| TestCaseError::fail(format!("bad field {field:?}: {p}")))?;
                if let Some(entries) = &entries {
                    let entry = entries.get(index);
                    prop_assert!(entry.is_some(), "{p}: no such entry");
                    let nameable = matches!(entry, Some(Yaml::Mapping(_)))
                        && valid_name(entry.and_then(|e| e.get("name"))).is_some();
                    prop_assert!(
                        !nameable,
                        "entry {index} has a name, the problem should use it: {p}"
                    );
                }
            }
            (None, None) => prop_assert!(
                p.message.starts_with("invalid YAML") || p.message.starts_with("cannot read"),
                "a problem with neither entry nor field: {p}"
            ),
            (None, Some(_)) => prop_assert!(false, "a field with no entry: {p}"),
        }
    }
    Ok(())
}

fn check_any(doc: &Doc) -> Result<(), TestCaseError> {
    match doc.registry() {
        Ok(r) => check_locations(doc, r.warnings())?,
        Err(e) => {
            prop_assert!(!e.problems.is_empty(), "refused with no problem");
            check_locations(doc, &e.problems)?;
        }
    }
    let checked = doc.check();
    check_locations(doc, &checked.warnings)?;
    check_locations(doc, &checked.problems)?;
    Ok(())
}

/// A valid entry of a random kind, with optional fields, as (kind, fields).
fn valid_entry() -> impl Strategy<Value = (&'static str, Mapping)> {
    let hash = "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"));
    let wasm = (
        select(vec!["process.wasm", "function.wasm"]),
        hash,
        subsequence(KNOWN_IMPORTS.to_vec(), 0..3),
        prop::option::of((1u64..1 << 40, 1u64..1 << 32, 0i64..100_000)),
        prop::option::of(select(vec!["log", "null", "inherit"])),
    )
        .prop_map(|(kind, hash, imports, limits, stdio)| {
            let mut m = Mapping::new();
            m.insert(s("fs"), s("files"));
            m.insert(s("path"), s("/x.wasm"));
            m.insert(s("hash"), s(&hash));
            m.insert(s("method"), s("run"));
            if !imports.is_empty() {
                m.insert(
                    s("imports"),
                    Yaml::Sequence(imports.into_iter().map(s).collect()),
                );
            }
            if let Some((fuel, memory, ms)) = limits {
                m.insert(
                    s("limits"),
                    mapping(vec![
                        ("fuel".into(), Yaml::Number(fuel.into())),
                        ("memory_bytes".into(), Yaml::Number(memory.into())),
                        ("max_execution_ms".into(), Yaml::Number(ms.into())),
                    ]),
                );
            }
            if let Some(stdio) = stdio {
                m.insert(
                    s("wasi"),
                    mapping(vec![
                        ("stdio".into(), s(stdio)),
                        ("cwd".into(), s("/")),
                        ("args".into(), Yaml::Sequence(vec![s("a"), s("b")])),
                    ]),
                );
            }
            (kind, m)
        });
    let fs = (
        select(vec![".", "./data", "sub/dir"]),
        prop::option::of(select(vec!["0755", "0700", "644"])),
        any::<bool>(),
    )
        .prop_map(|(dir, mode, auto_init)| {
            let mut m = Mapping::new();
            m.insert(s("directory"), s(dir));
            if let Some(mode) = mode {
                m.insert(s("mode"), s(mode));
            }
            m.insert(s("auto_init"), Yaml::Bool(auto_init));
            ("fs.directory", m)
        });
    let host = (1u64..5, 1u64..100).prop_map(|(workers, max)| {
        let mut m = Mapping::new();
        m.insert(
            s("host"),
            mapping(vec![
                ("workers".into(), Yaml::Number(workers.into())),
                ("max_processes".into(), Yaml::Number(max.into())),
            ]),
        );
        ("process.host", m)
    });
    let variable = (
        "[A-Z][A-Z0-9_]{0,8}",
        prop::option::of(".{0,8}"),
        any::<bool>(),
    )
        .prop_map(|(name, default, storage)| {
            let mut m = Mapping::new();
            m.insert(s("variable"), s(&name));
            if let Some(d) = default {
                m.insert(s("default"), s(&d));
            }
            if storage {
                m.insert(s("storage"), s("store"));
            }
            ("env.variable", m)
        });
    let values = (
        select(vec!["env.storage.static", "env.storage.memory"]),
        prop::collection::btree_map("[A-Z]{1,4}", ".{0,6}", 0..3),
    )
        .prop_map(|(kind, values)| {
            let mut m = Mapping::new();
            m.insert(
                s("values"),
                Yaml::Mapping(values.iter().map(|(k, v)| (s(k), s(v))).collect()),
            );
            (kind, m)
        });
    let lua = prop::option::of(select(vec!["main", "run"])).prop_map(|method| {
        let mut m = Mapping::new();
        m.insert(s("source"), s("function main() return 1 end"));
        if let Some(method) = method {
            m.insert(s("method"), s(method));
        }
        ("process.lua", m)
    });
    let simple = select(vec!["terminal.host", "env.storage.os"]).prop_map(|k| (k, Mapping::new()));
    let service = Just(()).prop_map(|_| {
        let mut m = Mapping::new();
        m.insert(s("process"), s("script"));
        m.insert(s("host"), s("t:host"));
        ("process.service", m)
    });
    let inert = Just(()).prop_map(|_| {
        let mut m = Mapping::new();
        m.insert(s("anything"), Yaml::Sequence(vec![s("goes")]));
        ("http.router", m)
    });
    prop_oneof![wasm, fs, host, variable, values, lua, simple, service, inert]
}

/// Fields each kind cannot do without.
fn required(kind: &str) -> &'static [&'static str] {
    match kind {
        "fs.directory" => &["directory"],
        "process.wasm" | "function.wasm" => &["fs", "path", "hash", "method"],
        // `variable` defaults to the entry's name, as in Wippy.
        "env.variable" => &[],
        "process.lua" => &["source"],
        "process.service" => &["process", "host"],
        _ => &[],
    }
}

/// One way to break an entry.
#[derive(Clone, Debug)]
enum Break {
    /// Remove the n-th required field.
    Remove(usize),
    /// Give the n-th field a mapping where it wants something else.
    WrongType(usize),
    Unknown,
    Name(Yaml),
    NoKind,
    KindNotString,
}

fn a_break() -> impl Strategy<Value = Break> {
    prop_oneof![
        (0usize..8).prop_map(Break::Remove),
        (0usize..8).prop_map(Break::WrongType),
        Just(Break::Unknown),
        select(vec![s(""), s("a:b"), Yaml::Number(5.into()), Yaml::Null]).prop_map(Break::Name),
        Just(Break::NoKind),
        Just(Break::KindNotString),
    ]
}

/// The fixed entries every valid document has: what the generated ones refer to.
fn base_entries() -> Vec<Yaml> {
    let entry = |name: &str, kind: &str, extra: Vec<(&str, Yaml)>| {
        let mut pairs = vec![("name".to_owned(), s(name)), ("kind".to_owned(), s(kind))];
        pairs.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        mapping(pairs)
    };
    vec![
        entry("files", "fs.directory", vec![("directory", s("."))]),
        entry("host", "process.host", vec![]),
        entry("script", "process.lua", vec![("source", s("return 1"))]),
        entry("store", "env.storage.os", vec![]),
    ]
}

fn document(entries: Vec<Yaml>) -> String {
    let mut doc = Mapping::new();
    doc.insert(s("version"), s("1.0"));
    doc.insert(s("namespace"), s(NAMESPACE));
    doc.insert(s("entries"), Yaml::Sequence(entries));
    serde_yaml_ng::to_string(&doc).unwrap()
}

fn generated(specs: &[(&'static str, Mapping)]) -> Vec<Yaml> {
    specs
        .iter()
        .enumerate()
        .map(|(i, (kind, fields))| {
            let mut m = Mapping::new();
            m.insert(s("name"), s(&format!("g{i}")));
            m.insert(s("kind"), s(kind));
            m.extend(fields.clone());
            Yaml::Mapping(m)
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_loads_or_fails_with_placed_problems(text in any::<String>()) {
        check_any(&Doc::new(&text))?;
    }

    #[test]
    fn yaml_like_text_loads_or_fails_with_placed_problems(text in yamlish_text()) {
        check_any(&Doc::new(&text))?;
    }

    #[test]
    fn near_valid_documents_load_or_fail_with_placed_problems(text in near_document()) {
        check_any(&Doc::new(&text))?;
    }

    #[test]
    fn valid_documents_load(specs in prop::collection::vec(valid_entry(), 0..8)) {
        let mut entries = base_entries();
        entries.extend(generated(&specs));
        let doc = Doc::new(&document(entries));
        let registry = doc.registry().map_err(|e| TestCaseError::fail(format!("{e}\n{}", doc.text)))?;
        prop_assert_eq!(registry.entries().len(), base_entries().len() + specs.len());
        for (i, (kind, _)) in specs.iter().enumerate() {
            let id = wippy_wasm::registry::EntryId::new(NAMESPACE, format!("g{i}"));
            let entry = registry.get(&id);
            prop_assert!(entry.is_some(), "g{} is missing", i);
            prop_assert_eq!(entry.unwrap().kind.as_str(), *kind);
        }
        check_locations(&doc, registry.warnings())?;
    }

    #[test]
    fn a_broken_entry_is_reported_at_that_entry(
        specs in prop::collection::vec(valid_entry(), 1..6),
        pick in any::<prop::sample::Index>(),
        breakage in a_break(),
    ) {
        let base = base_entries();
        let mut entries = generated(&specs);
        let k = pick.index(entries.len());
        let (kind, fields) = &specs[k];
        let Yaml::Mapping(m) = &mut entries[k] else { unreachable!() };
        // (Inert kinds accept any field; only their name and kind can break them.)
        let breakage = match breakage {
            Break::Remove(_) if required(kind).is_empty() => Break::NoKind,
            Break::WrongType(_) | Break::Unknown if *kind == "http.router" => Break::KindNotString,
            Break::WrongType(_) if fields.is_empty() => Break::Unknown,
            b => b,
        };
        match &breakage {
            Break::Remove(n) => {
                let req = required(kind);
                m.remove(req[n % req.len()]);
            }
            Break::WrongType(n) => {
                let key = fields.keys().nth(n % fields.len()).unwrap().clone();
                m.insert(key, mapping(vec![("x".into(), Yaml::Sequence(vec![Yaml::Number(1.into())]))]));
            }
            Break::Unknown => {
                m.insert(s("definitely_unknown"), Yaml::Number(1.into()));
            }
            Break::Name(name) => {
                m.insert(s("name"), name.clone());
            }
            Break::NoKind => {
                m.remove("kind");
            }
            Break::KindNotString => {
                m.insert(s("kind"), Yaml::Number(1.into()));
            }
        }
        let position = base.len() + k;
        let mut all = base;
        all.extend(entries);
        let doc = Doc::new(&document(all));
        let errors = match doc.registry() {
            Ok(_) => return Err(TestCaseError::fail(format!("{breakage:?} on g{k} loaded:\n{}", doc.text))),
            Err(e) => e,
        };
        check_locations(&doc, &errors.problems)?;
        let id = wippy_wasm::registry::EntryId::new(NAMESPACE, format!("g{k}"));
        let field = format!("entries[{position}]");
        let placed = errors.problems.iter().any(|p| match &breakage {
            Break::Name(_) => p.location.entry.is_none() && p.location.field.as_deref() == Some(field.as_str()),
            _ => p.location.entry.as_ref() == Some(&id),
        });
        prop_assert!(placed, "{:?} on g{} ({}) is not reported there: {}", breakage, k, kind, errors);
    }
}

#[test]
fn problems_name_the_field_of_a_wrong_type() {
    // A spot check of what the properties only ask in general: the field's path.
    let doc = Doc::new(&document(vec![mapping(vec![
        ("name".into(), s("w")),
        ("kind".into(), s("process.wasm")),
        ("fs".into(), s("files")),
        ("path".into(), s("/x.wasm")),
        ("hash".into(), s("sha256:00")),
        ("method".into(), s("run")),
        (
            "wasi".into(),
            mapping(vec![(
                "mounts".into(),
                Yaml::Sequence(vec![mapping(vec![("read_only".into(), s("yes"))])]),
            )]),
        ),
    ])]));
    let errors = doc.registry().unwrap_err();
    assert!(
        errors
            .problems
            .iter()
            .any(|p| p.location.field.as_deref() == Some("wasi.mounts[0].read_only")),
        "{errors}"
    );
}

// ── Value ↔ core wasm ────────────────────────────────────────────────────────

fn core_back(val: Val, ty: ValType) -> Val {
    let value = convert::from_core_results(std::slice::from_ref(&val));
    let mut back = convert::to_core_params(&[value], &[ty]).unwrap();
    back.pop().unwrap()
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        ".{0,8}".prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::List),
            prop::collection::btree_map(".{0,6}", inner, 0..5).prop_map(Value::Map),
        ]
    })
}

/// Equal values, floats bit for bit except that any NaN equals any NaN.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Value::List(xs), Value::List(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y))
        }
        (Value::Map(xs), Value::Map(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .zip(ys)
                    .all(|((kx, x), (ky, y))| kx == ky && same(x, y))
        }
        _ => a == b,
    }
}

fn val_type() -> impl Strategy<Value = ValType> {
    select(vec![ValType::I32, ValType::I64, ValType::F32, ValType::F64])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn core_i32_i64_f64_round_trip_exactly(i in any::<i32>(), l in any::<i64>(), bits in any::<u64>()) {
        prop_assert_eq!(core_back(Val::I32(i), ValType::I32).unwrap_i32(), i);
        prop_assert_eq!(core_back(Val::I64(l), ValType::I64).unwrap_i64(), l);
        prop_assert_eq!(core_back(Val::F64(bits), ValType::F64).unwrap_f64().to_bits(), bits);
    }

    #[test]
    fn core_f32_round_trips_and_nan_stays_nan(bits in any::<u32>()) {
        let back = core_back(Val::F32(bits), ValType::F32).unwrap_f32();
        if f32::from_bits(bits).is_nan() {
            prop_assert!(back.is_nan());
        } else {
            prop_assert_eq!(back.to_bits(), bits);
        }
    }

    #[test]
    fn core_results_are_null_one_value_or_a_list(vals in prop::collection::vec(any::<i64>(), 0..4)) {
        let core: Vec<Val> = vals.iter().map(|v| Val::I64(*v)).collect();
        let expected = match vals.as_slice() {
            [] => Value::Null,
            [v] => Value::Int(*v),
            many => Value::List(many.iter().map(|v| Value::Int(*v)).collect()),
        };
        prop_assert_eq!(convert::from_core_results(&core), expected);
    }

    #[test]
    fn core_params_from_ints_in_range_round_trip(i in any::<i32>(), l in any::<i64>(), f in any::<f64>()) {
        let types = [ValType::I32, ValType::I64, ValType::F64];
        let args = [Value::Int(i as i64), Value::Int(l), Value::Float(f)];
        let vals = convert::to_core_params(&args, &types).unwrap();
        prop_assert!(same(&convert::from_core_results(&vals), &Value::List(args.to_vec())));
    }

    #[test]
    fn core_params_never_panic(args in prop::collection::vec(arb_value(), 0..4), types in prop::collection::vec(val_type(), 0..4)) {
        let result = convert::to_core_params(&args, &types);
        if args.len() != types.len() {
            prop_assert!(result.is_err());
        }
        if let Ok(vals) = result {
            prop_assert_eq!(vals.len(), types.len());
        }
    }
}

// ── Value ↔ component values ─────────────────────────────────────────────────

/// Every parameter and result type of the `types` guest (records, variants, enums,
/// flags, options, results, tuples, lists), and every primitive type.
fn component_types() -> &'static [(String, Type)] {
    static TYPES: OnceLock<Vec<(String, Type)>> = OnceLock::new();
    TYPES.get_or_init(|| {
        let engine = wasmtime::Engine::default();
        let component = Component::from_file(&engine, common::guests().join("types.wasm")).unwrap();
        let mut types = vec![
            ("bool".to_owned(), Type::Bool),
            ("s8".to_owned(), Type::S8),
            ("u8".to_owned(), Type::U8),
            ("s16".to_owned(), Type::S16),
            ("u16".to_owned(), Type::U16),
            ("s32".to_owned(), Type::S32),
            ("u32".to_owned(), Type::U32),
            ("s64".to_owned(), Type::S64),
            ("u64".to_owned(), Type::U64),
            ("f32".to_owned(), Type::Float32),
            ("f64".to_owned(), Type::Float64),
            ("char".to_owned(), Type::Char),
            ("string".to_owned(), Type::String),
        ];
        for (name, export) in component.component_type().exports(&engine) {
            if let wasmtime::component::types::ComponentItem::ComponentFunc(f) = export.ty {
                for (param, ty) in f.params() {
                    types.push((format!("{name}({param})"), ty));
                }
                for (i, ty) in f.results().enumerate() {
                    types.push((format!("{name} result {i}"), ty));
                }
            }
        }
        assert!(types.len() > 20, "the types guest has its exports");
        types
    })
}

/// Any value of `ty`, except `u64`s above `i64::MAX` (which `Value` cannot carry back).
fn arb_cval(ty: &Type) -> BoxedStrategy<CVal> {
    match ty {
        Type::Bool => any::<bool>().prop_map(CVal::Bool).boxed(),
        Type::S8 => any::<i8>().prop_map(CVal::S8).boxed(),
        Type::U8 => any::<u8>().prop_map(CVal::U8).boxed(),
        Type::S16 => any::<i16>().prop_map(CVal::S16).boxed(),
        Type::U16 => any::<u16>().prop_map(CVal::U16).boxed(),
        Type::S32 => any::<i32>().prop_map(CVal::S32).boxed(),
        Type::U32 => any::<u32>().prop_map(CVal::U32).boxed(),
        Type::S64 => any::<i64>().prop_map(CVal::S64).boxed(),
        Type::U64 => (0..=i64::MAX as u64).prop_map(CVal::U64).boxed(),
        Type::Float32 => any::<f32>().prop_map(CVal::Float32).boxed(),
        Type::Float64 => any::<f64>().prop_map(CVal::Float64).boxed(),
        Type::Char => any::<char>().prop_map(CVal::Char).boxed(),
        Type::String => ".{0,10}".prop_map(CVal::String).boxed(),
        Type::List(list) => prop::collection::vec(arb_cval(&list.ty()), 0..5)
            .prop_map(CVal::List)
            .boxed(),
        Type::Record(record) => {
            let fields: Vec<BoxedStrategy<(String, CVal)>> = record
                .fields()
                .map(|f| {
                    let name = f.name.to_owned();
                    arb_cval(&f.ty).prop_map(move |v| (name.clone(), v)).boxed()
                })
                .collect();
            fields.prop_map(CVal::Record).boxed()
        }
        Type::Tuple(tuple) => {
            let items: Vec<BoxedStrategy<CVal>> = tuple.types().map(|t| arb_cval(&t)).collect();
            items.prop_map(CVal::Tuple).boxed()
        }
        Type::Variant(variant) => {
            let cases: Vec<BoxedStrategy<CVal>> = variant
                .cases()
                .map(|c| {
                    let name = c.name.to_owned();
                    match c.ty {
                        None => Just(CVal::Variant(name, None)).boxed(),
                        Some(ty) => arb_cval(&ty)
                            .prop_map(move |v| CVal::Variant(name.clone(), Some(Box::new(v))))
                            .boxed(),
                    }
                })
                .collect();
            Union::new(cases).boxed()
        }
        Type::Enum(e) => {
            let names: Vec<String> = e.names().map(str::to_owned).collect();
            select(names).prop_map(CVal::Enum).boxed()
        }
        Type::Option(opt) => prop::option::of(arb_cval(&opt.ty()))
            .prop_map(|o| CVal::Option(o.map(Box::new)))
            .boxed(),
        Type::Result(r) => {
            let side = |ty: Option<Type>| match ty {
                None => Just(None).boxed(),
                Some(ty) => arb_cval(&ty).prop_map(|v| Some(Box::new(v))).boxed(),
            };
            prop_oneof![
                side(r.ok()).prop_map(|v| CVal::Result(Ok(v))),
                side(r.err()).prop_map(|v| CVal::Result(Err(v))),
            ]
            .boxed()
        }
        Type::Flags(flags) => {
            let names: Vec<String> = flags.names().map(str::to_owned).collect();
            let n = names.len();
            subsequence(names, 0..=n).prop_map(CVal::Flags).boxed()
        }
        other => panic!("no strategy for {other:?}"),
    }
}

fn typed_cval() -> impl Strategy<Value = (String, Type, CVal)> {
    select((0..component_types().len()).collect::<Vec<_>>()).prop_flat_map(|i| {
        let (name, ty) = component_types()[i].clone();
        arb_cval(&ty).prop_map(move |v| (name.clone(), ty.clone(), v))
    })
}

fn typed_value() -> impl Strategy<Value = (String, Type, Value)> {
    (
        select((0..component_types().len()).collect::<Vec<_>>()),
        arb_value(),
    )
        .prop_map(|(i, v)| {
            let (name, ty) = component_types()[i].clone();
            (name, ty, v)
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn component_values_round_trip((name, ty, v) in typed_cval()) {
        let value = convert::from_component(&v);
        let back = convert::to_component(&value, &ty, "v");
        prop_assert_eq!(back.as_ref(), Ok(&v), "{} via {:?}", name, value);
    }

    #[test]
    fn component_conversion_never_panics((_name, ty, v) in typed_value()) {
        // Any value against any type: converted or refused with a message.
        if let Err(e) = convert::to_component(&v, &ty, "v") {
            prop_assert!(e.starts_with("v"), "the error names where: {}", e);
        }
    }
}

// ── Value ↔ Lua ──────────────────────────────────────────────────────────────

/// What `v` becomes after a trip through Lua (see the module comment).
fn through_lua(v: &Value) -> Value {
    match v {
        Value::Bytes(b) => match String::from_utf8(b.clone()) {
            Ok(text) => Value::String(text),
            Err(_) => v.clone(),
        },
        Value::List(items) => Value::List(
            items
                .iter()
                .filter(|x| !matches!(x, Value::Null))
                .map(through_lua)
                .collect(),
        ),
        Value::Map(map) => {
            let map: BTreeMap<String, Value> = map
                .iter()
                .filter(|(_, x)| !matches!(x, Value::Null))
                .map(|(k, x)| (k.clone(), through_lua(x)))
                .collect();
            if map.is_empty() {
                Value::List(Vec::new())
            } else {
                Value::Map(map)
            }
        }
        other => other.clone(),
    }
}

/// A Lua expression for a table: positional items (some `nil`) and keyed ones.
fn lua_table_source() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => Just("nil".to_owned()),
        3 => any::<i32>().prop_map(|i| i.to_string()),
        1 => Just("1.5".to_owned()),
        1 => Just("true".to_owned()),
        2 => "[a-z]{0,4}".prop_map(|t| format!("{t:?}")),
        1 => Just("{}".to_owned()),
        1 => Just("{1, 2}".to_owned()),
        1 => Just("{a = 1}".to_owned()),
    ];
    let key = prop_oneof![
        "[a-z]{1,3}".prop_map(|k| format!("[{k:?}]")),
        (-2i32..8).prop_map(|k| format!("[{k}]")),
        Just("[2.0]".to_owned()),
        Just("[0.5]".to_owned()),
        Just("[true]".to_owned()),
    ];
    (
        prop::collection::vec(leaf.clone(), 0..6),
        prop::collection::vec((key, leaf), 0..4),
    )
        .prop_map(|(items, keyed)| {
            let mut parts = items;
            parts.extend(keyed.into_iter().map(|(k, v)| format!("{k} = {v}")));
            format!("{{{}}}", parts.join(", "))
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn values_round_trip_through_lua(v in arb_value()) {
        let lua = mlua::Lua::new();
        let back = wippy_wasm::testing::from_lua(&wippy_wasm::testing::to_lua(&lua, &v).unwrap());
        let expected = through_lua(&v);
        prop_assert!(
            matches!(&back, Ok(b) if same(b, &expected)),
            "{:?} came back as {:?}, expected {:?}", v, back, expected
        );
    }

    #[test]
    fn a_lua_table_converts_whole_or_not_at_all(source in lua_table_source()) {
        // A table becomes a list only if its keys are exactly 1..n, a map only if every
        // key is a string; nothing in it is dropped on the way.
        let lua = mlua::Lua::new();
        let table: mlua::Table = lua.load(format!("return {source}")).eval().unwrap();
        let mut pairs = 0usize;
        let mut int_keys = Vec::new();
        let mut all_strings = true;
        for pair in table.pairs::<mlua::Value, mlua::Value>() {
            let (k, _) = pair.unwrap();
            pairs += 1;
            match k {
                mlua::Value::Integer(i) => { int_keys.push(i); all_strings = false; }
                mlua::Value::String(_) => {}
                _ => all_strings = false,
            }
        }
        int_keys.sort_unstable();
        let sequence = int_keys.len() == pairs && int_keys.iter().enumerate().all(|(i, k)| *k == i as i64 + 1);
        match wippy_wasm::testing::from_lua(&mlua::Value::Table(table)) {
            Ok(Value::List(items)) => {
                prop_assert!(sequence, "{} became a list of {:?}", source, items);
                prop_assert_eq!(items.len(), pairs, "{}", source);
            }
            Ok(Value::Map(map)) => {
                prop_assert!(all_strings, "{} became a map", source);
                prop_assert_eq!(map.len(), pairs, "{}", source);
            }
            Ok(other) => prop_assert!(false, "{} became {:?}", source, other),
            Err(_) => prop_assert!(!(sequence || (all_strings && pairs > 0)), "{} was refused", source),
        }
    }
}

#[test]
fn lossy_lua_cases_are_what_the_module_comment_says() {
    let lua = mlua::Lua::new();
    let trip = |v: Value| {
        wippy_wasm::testing::from_lua(&wippy_wasm::testing::to_lua(&lua, &v).unwrap()).unwrap()
    };
    assert_eq!(
        trip(Value::List(vec![Value::Int(1), Value::Null, Value::Int(2)])),
        Value::List(vec![Value::Int(1), Value::Int(2)])
    );
    assert_eq!(trip(Value::Map(BTreeMap::new())), Value::List(vec![]));
    assert_eq!(
        trip(Value::Bytes(b"text".to_vec())),
        Value::String("text".into())
    );
}
