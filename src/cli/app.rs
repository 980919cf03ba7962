//! `wippy run` with no command: the application mode (SPEC §8). Every host starts, then
//! every `auto_start` service in `requires` order; one line is printed per service
//! start, restart and end; SIGINT or SIGTERM stops the services in reverse order (CANCEL,
//! then terminate after `stop_timeout`), every process Closes, and wippy exits 0, or 1 if
//! a service ended Failed.

use std::path::Path;
use std::process::ExitCode;

use wippy_wasm::{Runtime, ServiceState};

use super::interrupt;
use super::run::say;

pub fn run(project: &Path) -> ExitCode {
    let mut builder = Runtime::builder();
    builder.max_instances(APPLICATION_SLOTS);
    super::cluster_flags(&mut builder);
    let runtime = match builder.load(project) {
        Ok(rt) => rt,
        Err(e) => {
            eprint!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let changes = runtime.service_changes();
    let printer = std::thread::spawn(move || {
        // Ends when the runtime, and with it every sender, is gone.
        for change in changes {
            say(&change.to_string());
        }
    });
    let stop = interrupt::serve();
    let started = runtime.start_services();
    let failed_to_start = match started {
        Ok(started) if started.is_empty() => {
            say("wippy: no service has lifecycle.auto_start: true; the hosts run until Ctrl-C");
            false
        }
        Ok(started) => {
            say(&format!(
                "wippy: {} service{} started; Ctrl-C or SIGTERM stops {}",
                started.len(),
                if started.len() == 1 { "" } else { "s" },
                if started.len() == 1 { "it" } else { "them" },
            ));
            false
        }
        Err(e) => {
            eprintln!("Error: {e}");
            true
        }
    };
    if !failed_to_start {
        // A first Ctrl-C, SIGINT or SIGTERM.
        let _ = stop.recv();
        say("wippy: stopping services");
    }
    runtime.stop_services();
    let failed: Vec<String> = runtime
        .services()
        .into_iter()
        .filter(|(_, s)| s.state == ServiceState::Failed)
        .map(|(id, _)| id.to_string())
        .collect();
    runtime.shutdown();
    let _ = printer.join();
    say("wippy: every process closed");
    if failed_to_start || !failed.is_empty() {
        if !failed.is_empty() {
            eprintln!("wippy: failed services: {}", failed.join(", "));
        }
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Pool slots for an application: its services and what they spawn.
const APPLICATION_SLOTS: u32 = 1024;
