//! Embedding wippy-wasm: load the bundled project, run wasm and Lua processes, watch them
//! end, read their counters and their output. Run with `cargo run --example embed`.

use std::time::Duration;

use wippy_wasm::{EventKind, GuestLog, Mailbox, Runtime, Value};

const HOST: &str = "myns:processes";
const WAIT: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Guest output under a process.host goes to a log; keep it to print it ourselves.
    let (log, lines) = GuestLog::capture();
    let mut builder = Runtime::builder();
    builder.max_instances(64).guest_output(log);
    let project = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let rt = builder.load(project)?;

    // A wasm process: compute(6, 7), watched by a mailbox of ours.
    let me = Mailbox::new();
    let args = vec![Value::Int(6), Value::Int(7)];
    let pid = rt.spawn_monitored(&me, "myns:compute_worker", HOST, args)?;
    let exit = me.receive(WAIT).ok_or("no EXIT from compute_worker")?;
    let stats = exit.stats.ok_or("an EXIT carries counters")?;
    println!(
        "{pid} returned {} in {} Steps, {} fuel",
        exit.result.value, stats.steps, stats.fuel_used
    );
    assert_eq!(exit.result.value, Value::Int(42));

    // A Lua process that spawns the wasm worker itself and prints what it got.
    let pid = rt.spawn_monitored(&me, "myns:spawn_demo", HOST, vec![])?;
    let exit = me.receive(WAIT).ok_or("no EXIT from spawn_demo")?;
    assert!(exit.result.is_ok(), "{:?}", exit.result.error());
    for (from, _stream, line) in lines.lock().unwrap().iter() {
        println!("{from} printed: {line}");
    }
    println!("{pid} returned {}", exit.result.value);

    // A link: a process that fails tells the mailbox linked to it (one argument is
    // missing, so the call is refused before it starts).
    rt.spawn_linked(&me, "myns:compute_worker", HOST, vec![Value::Int(1)])?;
    let down = me.receive(WAIT).ok_or("no LINK_DOWN")?;
    assert_eq!(down.kind, EventKind::LinkDown);
    println!("linked process failed: {}", down.result.reason);

    rt.shutdown();
    Ok(())
}
