//! The `wippy` command line.

mod adhoc;
mod app;
mod check;
mod interrupt;
mod run;
mod wasmtime_flags;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wippy",
    version,
    about = "Run WebAssembly modules and components as lightweight processes",
    after_help = "Examples:\n  wippy check --project examples\n  wippy --project examples run list"
)]
pub struct Cli {
    /// Project folder: every _index.yaml below it is loaded.
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub project: PathBuf,

    /// Join a cluster through these NATS servers (comma-separated), in place of the
    /// project's cluster.nats url.
    #[arg(long, global = true, value_name = "URL[,URL...]")]
    pub nats: Option<String>,

    /// This runtime's node name in the cluster (default: the machine's host name).
    #[arg(long, global = true, value_name = "NAME")]
    pub node: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Load the project, verify and compile every binary, and report every problem.
    #[command(after_help = "Exit status: 0 when the project loads, 1 when it has problems.")]
    Check,
    /// Run a command (an entry with meta.command), `list` to see them, or a .wasm file;
    /// with no name, run the application (every auto_start service) until Ctrl-C.
    #[command(after_help = RUN_HELP)]
    Run {
        #[command(flatten)]
        file: Box<FileFlags>,
        /// Run the process entry with this ID (Wippy's `-x`), with or without
        /// meta.command; everything after it is its arguments.
        #[arg(short = 'x', long = "exec", value_name = "NS:ENTRY")]
        exec: Option<String>,
        /// With -x: the host to run on (default: the project's terminal host).
        #[arg(long, value_name = "NS:HOST", requires = "exec")]
        host: Option<String>,
        /// The command's name, `list`, or a path to a .wasm file. None: the application
        /// mode.
        name: Option<String>,
        /// Arguments: the method's parameters (converted to their types), and the
        /// guest's argv when its entry sets none. Everything after NAME goes to the guest.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

const RUN_HELP: &str = "\
Exit status: the guest's WASI exit code, else:
  a command: a string is printed and exits 0, an integer N in 0-255 exits N (any other is
  printed and exits 1), false exits 1, true or nothing exits 0; a failure prints the error
  and exits 1.
  a .wasm file (as `wasmtime run`): a trap (or running out of fuel or time) exits 134, any
  other failure 1; a component's wasi:cli/run result exits 0 for ok, 1 for err; with
  --invoke, the result is printed and the status is 0.
Ctrl-C or SIGTERM stops the process cleanly (exit 130); a second forces exit.
With no name (the application mode): every process.service with lifecycle.auto_start
starts, in requires order, and runs (restarted with backoff when it fails) until Ctrl-C or
SIGTERM stops them in reverse order; exit 0, or 1 if a service ended Failed.

Examples:
  wippy run
  wippy run -x app:hello Ada
  wippy run list
  wippy run compute 6 7
  wippy run greet Wippy
  wippy run --dir ./data::/data --env MODE=fast app.wasm input.csv
  wippy run --invoke compute worker.wasm 6 7";

/// Flags for running a .wasm file directly (compatible with `wasmtime run`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct FileFlags {
    /// Preopen HOST as GUEST (default: the same path; `.` maps to `/`). Repeatable.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,
    /// Set an environment variable for the guest. Repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// The function to call (default: `_start`, or `wasi:cli/run#run` for a component).
    #[arg(long, value_name = "NAME")]
    pub invoke: Option<String>,
    /// Total fuel (instructions) the guest may use.
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,
    /// Wall-clock limit in milliseconds.
    #[arg(long, value_name = "MS")]
    pub max_execution_ms: Option<u64>,
    /// Linear memory cap in bytes.
    #[arg(long, value_name = "BYTES")]
    pub memory_bytes: Option<u64>,
    /// Make imports no host provides trap when called instead of failing to load.
    #[arg(long)]
    pub allow_unknown_imports: bool,
    /// wasmtime's wasm options: fuel=N, max-memory-size=BYTES, timeout=DURATION,
    /// unknown-imports-trap, exceptions. Repeatable, or comma-separated.
    #[arg(short = 'W', value_name = "OPT[=VAL]")]
    pub wasm_options: Vec<String>,
    /// wasmtime's WASI options: http (outgoing wasi:http, off unless asked, as in
    /// wasmtime), inherit-network, inherit-env, cli. Repeatable, or comma-separated.
    #[arg(short = 'S', value_name = "OPT[=VAL]")]
    pub wasi_options: Vec<String>,
    /// Set by `-S http`: a component may make outgoing HTTP requests.
    #[arg(skip)]
    pub http: bool,
    /// Set by `-S inherit-network`: the guest's sockets reach the host's network.
    #[arg(skip)]
    pub network: bool,
}

impl FileFlags {
    fn any(&self) -> bool {
        !self.dirs.is_empty()
            || !self.env.is_empty()
            || self.invoke.is_some()
            || self.fuel.is_some()
            || self.max_execution_ms.is_some()
            || self.memory_bytes.is_some()
            || self.allow_unknown_imports
            || !self.wasm_options.is_empty()
            || !self.wasi_options.is_empty()
    }
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

/// `--nats` and `--node`, for every runtime the command builds.
static CLUSTER_FLAGS: std::sync::OnceLock<(Option<String>, Option<String>)> =
    std::sync::OnceLock::new();

/// Applies `--nats` and `--node` to `builder`.
fn cluster_flags(builder: &mut wippy_wasm::RuntimeBuilder) {
    let Some((nats, node)) = CLUSTER_FLAGS.get() else {
        return;
    };
    if let Some(urls) = nats {
        builder.cluster(wippy_wasm::ClusterOptions::new(
            urls.split(',').map(str::trim).filter(|u| !u.is_empty()),
        ));
    }
    if let Some(node) = node {
        builder.node(node.clone());
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = CLUSTER_FLAGS.set((cli.nats.clone(), cli.node.clone()));
    interrupt::install();
    // Guests share this process's stderr (a terminal host inherits it): by default only
    // our own warnings are logged, not the crates' below us (wasmtime-wasi warns on guest
    // behaviour, e.g. an unimplemented `sock_shutdown`), and colour only on a terminal.
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WIPPY_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("off,wippy_wasm=warn,wippy=warn")
            }),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Check => check::run(&cli.project),
        Command::Run {
            exec: Some(id),
            host,
            name,
            args,
            file,
        } => {
            if file.any() {
                eprintln!("Error: --dir, --env, --invoke, -W, -S and the limit flags apply to running a .wasm file, not -x");
                return ExitCode::from(2);
            }
            let args: Vec<String> = name.into_iter().chain(args).collect();
            run::exec(&cli.project, &id, host.as_deref(), &args)
        }
        Command::Run {
            name: None, file, ..
        } if file.any() => {
            eprintln!("Error: --dir, --env, --invoke, -W, -S and the limit flags apply to running a .wasm file");
            ExitCode::from(2)
        }
        Command::Run { name: None, .. } => app::run(&cli.project),
        Command::Run {
            file,
            name: Some(name),
            args,
            ..
        } => run::run(&cli.project, &name, &args, &file),
    }
}
