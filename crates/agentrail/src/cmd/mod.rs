//! One module per verb. Each returns the exit code for the outcomes it judges itself (rejected
//! events, failed verification); errors go up to `main`, which maps them.

mod agents;
mod apikeys;
mod assess;
mod bench;
mod bench_load;
mod bench_sessions;
mod demo;
mod evidence;
mod ingest;
mod inventory;
mod prove;
mod read;
mod remote;
mod serve;
mod session;
mod verify;

use crate::cli::{Cli, Command, EventCommand, SessionCommand};
use crate::exit::Exit;
use agentrail_store::clock::SystemClock;
use agentrail_store::{InitOptions, Ledger};
use anyhow::{Context, Result};
use std::path::Path;
use std::sync::Arc;

pub fn run(cli: Cli) -> Result<Exit> {
    let inventory = cli.inventory_path();
    let data = cli.data.as_path();
    match cli.command {
        Command::Init(a) => init(data, a.origin, a.publish),
        Command::Ingest(a) => ingest::run(data, &a),
        Command::Event(EventCommand::Get { id, leaf }) => read::event_get(data, &id, leaf),
        Command::Checkpoint(a) => read::checkpoint(data, a.new),
        Command::Prove(a) => prove::prove(data, &a),
        Command::VerifyProof(a) => prove::verify_proof(&a),
        Command::VerifyConsistency(a) => prove::verify_consistency(&a),
        Command::Verify(a) => verify::run(data, &a),
        Command::Key => read::key(data),
        Command::Serve(a) => serve::run(data, &a, &inventory),
        Command::ApiKeys(c) => apikeys::run(data, &c),
        Command::Sessions(a) => session::sessions(data, &a),
        Command::Session(SessionCommand::Show(a)) => session::show(data, &a),
        Command::Reindex => session::reindex(data),
        Command::Agents(c) => agents::run(data, &inventory, &c),
        Command::Assess(a) => assess::run(data, &inventory, &a),
        Command::Evidence(a) => evidence::build(data, &a),
        Command::VerifyBundle(a) => evidence::verify(&a),
        Command::Demo(_) => demo::run(data),
        Command::Bench(a) => bench::run(&a),
    }
}

fn init(data: &Path, origin: Option<String>, publish: Option<std::path::PathBuf>) -> Result<Exit> {
    let origin = Ledger::init(
        data,
        &InitOptions {
            origin,
            publish: publish.clone(),
        },
        &SystemClock,
    )?;
    let ledger = open_writer(data, "agentrail init")?;
    say!("initialized {}", data.display());
    say!("origin:       {origin}");
    say!("verifier key: {}", ledger.verifier().to_vkey());
    if let Some(p) = publish {
        say!("publishing checkpoints to {}", p.display());
    }
    Ok(Exit::Success)
}

/// Opens the data directory as its one writer.
pub(crate) fn open_writer(data: &Path, what: &str) -> Result<Ledger> {
    Ledger::open(data, what, Arc::new(SystemClock))
        .with_context(|| format!("opening {} for writing", data.display()))
}
