//! The `wippy` command line.

mod check;
mod run;

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

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Load the project, verify and compile every binary, and report every problem.
    #[command(after_help = "Exit status: 0 when the project loads, 1 when it has problems.")]
    Check,
    /// Run a command (an entry with meta.command), or `list` to see them.
    #[command(
        after_help = "Examples:\n  wippy run list\n  wippy run compute 6 7\n  wippy run greet Wippy"
    )]
    Run {
        /// The command's name, or `list`.
        name: String,
        /// Arguments for the command: its method's parameters.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WIPPY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Check => check::run(&cli.project),
        Command::Run { name, args } => run::run(&cli.project, &name, &args),
    }
}
