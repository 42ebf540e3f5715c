//! Read verbs: `event get`, `checkpoint`, `key`. They read the database directly and take no
//! lock; whoever can read the data directory can read everything in it.

use crate::exit::Exit;
use agentrail_store::ledger::open_read;
use agentrail_store::{LedgerError, ReadLedger};
use anyhow::Result;
use std::io::Write;
use std::path::Path;

pub fn event_get(data: &Path, id: &str, leaf: bool) -> Result<Exit> {
    let mut backend = open_read(data)?;
    let ev = ReadLedger::new(backend.as_mut()).event(id)?;
    let bytes = if leaf {
        ev.row.leaf.clone()
    } else {
        ev.event_bytes().ok_or_else(|| {
            LedgerError::NotFound(format!(
                "the body of event {id:?} has been erased; only its leaf remains (--leaf)"
            ))
        })?
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(Exit::Success)
}

pub fn checkpoint(data: &Path, new: bool) -> Result<Exit> {
    let note = if new {
        sign_now(data, "agentrail checkpoint --new")?
    } else {
        let mut backend = open_read(data)?;
        match ReadLedger::new(backend.as_mut()).latest_checkpoint()? {
            Some(cp) => cp.note,
            None => {
                return Err(LedgerError::NotFound(
                    "no checkpoint has been signed yet; run `agentrail checkpoint --new`".into(),
                )
                .into())
            }
        }
    };
    say_raw!("{note}");
    Ok(Exit::Success)
}

pub fn key(data: &Path) -> Result<Exit> {
    let mut backend = open_read(data)?;
    say!(
        "{}",
        ReadLedger::new(backend.as_mut()).verifier()?.to_vkey()
    );
    Ok(Exit::Success)
}

/// Signs a checkpoint of the current tree: directly, or through the running server that holds
/// the data directory.
pub fn sign_now(data: &Path, what: &str) -> Result<String> {
    match super::open_writer(data, what) {
        Ok(mut ledger) => Ok(ledger.checkpoint_now()?.note),
        Err(e) => {
            let server = super::remote::Server::for_locked(data, &e).ok_or(e)?;
            server.post_empty("/api/v1/admin/checkpoint", "the checkpoint request")
        }
    }
}
