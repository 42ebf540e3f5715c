//! Recording the inventory from the command line. The file is the editing surface; the log holds
//! what was in force when. Verbs that change the file, and the verbs that read the inventory
//! (`agents discover`, `assess`), first record whatever changed in the file since the log last
//! saw it: as the data directory's writer when no server runs, else through the running
//! server, which reloads its own inventory file.

use super::remote::Server;
use super::session::escape;
use crate::exit::InvalidInput;
use agentrail_server::inventory::{sync_ledger, SyncError};
use anyhow::{Context, Result};
use std::path::Path;

/// Records the changes of the inventory at `path` in the log of `data`. With `required`, a
/// failure is an error; otherwise it is reported on standard error and the log's last recorded
/// inventory is used (an auditor's read-only copy, say).
pub fn record(data: &Path, path: &Path, required: bool) -> Result<()> {
    match try_record(data, path) {
        Ok(()) => Ok(()),
        Err(e) if required => Err(e),
        Err(e) => {
            // A broken inventory is the user's to fix, whatever verb found it.
            if e.chain()
                .any(|c| c.downcast_ref::<InvalidInput>().is_some())
            {
                return Err(e);
            }
            eprintln!(
                "note: the inventory was not recorded ({e:#}); using the inventory the log last recorded"
            );
            Ok(())
        }
    }
}

fn try_record(data: &Path, path: &Path) -> Result<()> {
    match super::open_writer(data, "agentrail agents") {
        Ok(mut ledger) => match sync_ledger(data, &mut ledger, path, "cli") {
            Ok((_, synced)) => {
                if !synced.leaves.is_empty() {
                    eprintln!(
                        "recorded in the log: {} (leaves {})",
                        escape::escape(&synced.summary.join("; ")),
                        synced
                            .leaves
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                Ok(())
            }
            Err(SyncError::Policy(e)) => Err(InvalidInput(format!(
                "the inventory {} does not load: {e}",
                path.display()
            ))
            .into()),
            Err(e) => Err(anyhow::Error::new(e).context("recording the inventory")),
        },
        Err(e) => {
            let Some(server) = Server::for_locked(data, &e) else {
                return Err(e);
            };
            let answer = server
                .post_empty("/api/v1/admin/inventory/reload", "the inventory reload")
                .context("asking the running server to record the inventory")?;
            let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
            if let Some(theirs) = v["path"].as_str() {
                if Path::new(theirs) != path {
                    eprintln!(
                        "note: the running server reads the inventory {theirs}, not {}; start it with the same --agents",
                        path.display()
                    );
                }
            }
            if let Some(changes) = v["changes"].as_array().filter(|c| !c.is_empty()) {
                let changes: Vec<&str> = changes.iter().filter_map(|c| c.as_str()).collect();
                eprintln!(
                    "recorded in the log by the running server: {}",
                    changes.join("; ")
                );
            }
            Ok(())
        }
    }
}
