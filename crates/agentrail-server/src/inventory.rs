//! The inventory (`agents.toml`) and the Cedar policies it names, as the collector holds them in
//! force, and how every change of them reaches the ledger.
//!
//! The ledger is the record of what was in force when: every change of the inventory is an
//! `agentrail.inventory` record and every change of a policy file an `agentrail.policy` record
//! holding its full text. The file is only the editing surface. At start the server records
//! whatever changed since the ledger last saw the file (and refuses to start when the file does
//! not load); while it runs it looks at the file every [`POLL`] and records each change, or logs
//! why a changed file does not load and keeps the last good one in force. A removed file leaves
//! the last recorded inventory in force: removing agents is an edit, not a deletion.

use agentrail_index::Index;
use agentrail_policy::{load, Loaded, PolicyError, PolicyState};
use agentrail_store::ledger::DataDir;
use agentrail_store::{Ledger, LedgerError};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

/// How often a running server looks at the inventory and its policy files.
pub const POLL: Duration = Duration::from_secs(1);

/// Why the inventory could not be synced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Index(#[from] agentrail_index::IndexError),
}

/// What a sync did.
#[derive(Debug, Default, Clone)]
pub struct Synced {
    /// Leaf indexes of the records appended (none when nothing changed).
    pub leaves: Vec<u64>,
    /// `added`, `changed`, `removed` agent ids and policy paths, for the log line.
    pub summary: Vec<String>,
    /// False when the file does not exist (the ledger's inventory stays in force).
    pub found: bool,
}

/// The records that bring the ledger from `state` to `loaded` (each as the record to append:
/// the stored body without its `policy` / `inventory` wrapper), with a short description.
pub fn plan(
    state: &PolicyState,
    loaded: &Loaded,
    by: &str,
) -> (Vec<(&'static str, Value)>, Vec<String>) {
    let mut records = Vec::new();
    let mut summary = Vec::new();
    for (kind, mut body) in state.sync_records(loaded, by) {
        let suffix = kind.trim_start_matches("agentrail.");
        let record = body
            .as_object_mut()
            .and_then(|o| o.remove(suffix))
            .unwrap_or(Value::Null);
        if kind == agentrail_policy::POLICY_KIND {
            let what = if record["removed"] == true {
                "removed"
            } else {
                "recorded"
            };
            summary.push(format!("policy {} {what}", record["path"]));
        } else {
            let before = summary.len();
            for k in ["added", "changed", "removed"] {
                if let Some(ids) = record[k].as_array().filter(|a| !a.is_empty()) {
                    let ids: Vec<String> = ids.iter().map(|v| v.to_string()).collect();
                    summary.push(format!("agents {k}: {}", ids.join(", ")));
                }
            }
            if summary.len() == before {
                summary.push("inventory recorded".to_string());
            }
        }
        records.push((kind, record));
    }
    (records, summary)
}

/// The state `loaded` puts in force.
pub fn state_of(loaded: &Loaded) -> PolicyState {
    PolicyState {
        inventory: loaded.inventory.clone(),
        policies: loaded.policies.clone(),
    }
}

/// The inventory and policies the ledger holds in force. The session index is derived data and
/// must never hold the collector up: its saved state is used for the leaves it holds (no
/// catch-up), the ledger's own records for the rest, and without a usable index the ledger's
/// records alone.
pub fn recorded_state(data: &Path, ledger: &mut Ledger) -> Result<PolicyState, SyncError> {
    let index = match Index::open(&DataDir::new(data).index()) {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::warn!(error = %e, "the session index cannot be opened; reading the inventory and policy records from the ledger itself");
            None
        }
    };
    let found =
        agentrail_index::policy::state_at_ledger_end(index.as_ref(), ledger.reader().backend());
    match found {
        Ok(state) => Ok(state),
        Err(e) if index.is_some() => {
            tracing::warn!(error = %e, "the session index cannot be read; reading the inventory and policy records from the ledger itself");
            Ok(agentrail_index::policy::state_from_ledger(
                ledger.reader().backend(),
            )?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Loads `path` and appends what changed since the ledger's state, as the directory's one
/// writer (before a writer thread runs, or from the command line). Returns the state now in
/// force.
pub fn sync_ledger(
    data: &Path,
    ledger: &mut Ledger,
    path: &Path,
    by: &str,
) -> Result<(PolicyState, Synced), SyncError> {
    let state = recorded_state(data, ledger)?;
    let loaded = match load(path) {
        Ok(l) => l,
        Err(PolicyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok((state, Synced::default()))
        }
        Err(e) => return Err(e.into()),
    };
    let (records, summary) = plan(&state, &loaded, by);
    let leaves = ledger.append_internals(&records)?;
    Ok((
        state_of(&loaded),
        Synced {
            leaves,
            summary,
            found: true,
        },
    ))
}

/// The inventory the server holds in force, and where it reads it from.
#[derive(Debug)]
pub struct Inventory {
    path: Option<PathBuf>,
    current: RwLock<Current>,
    /// One reload at a time: two at once would record the same change twice.
    reloading: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Current {
    state: PolicyState,
    /// The last load error logged, so a broken file is reported once, not every poll.
    last_error: Option<String>,
    /// The records the last look would have appended (the poller waits for a second look).
    pending: Option<String>,
}

impl Inventory {
    pub fn new(path: Option<PathBuf>, state: PolicyState) -> Inventory {
        Inventory {
            path,
            current: RwLock::new(Current {
                state,
                last_error: None,
                pending: None,
            }),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The file the server reads, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A copy of the state in force.
    pub fn state(&self) -> PolicyState {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .state
            .clone()
    }

    /// Runs `f` on the state in force without copying it.
    pub fn with_state<T>(&self, f: impl FnOnce(&PolicyState) -> T) -> T {
        f(&self.current.read().unwrap_or_else(|p| p.into_inner()).state)
    }

    /// Loads the file and, if it changed, records the change through the writer and puts it
    /// in force. Called by the poller (with `debounce`: a change is recorded once two looks in a
    /// row see it) and by `POST /api/v1/admin/inventory/reload` (at once).
    pub async fn reload(
        &self,
        st: &crate::AppState,
        by: &str,
        debounce: bool,
    ) -> Result<Synced, crate::ApiError> {
        let Some(path) = self.path.clone() else {
            return Ok(Synced::default());
        };
        let _one = self.reloading.lock().await;
        let loaded = match tokio::task::spawn_blocking(move || load(&path)).await {
            Ok(Ok(l)) => l,
            Ok(Err(PolicyError::Io { source, .. }))
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(Synced::default())
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
                if cur.last_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!(error = %msg, "the inventory does not load; the last recorded one stays in force");
                    cur.last_error = Some(msg.clone());
                }
                return Err(crate::ApiError::BadRequest(format!(
                    "the inventory does not load, the last recorded one stays in force: {msg}"
                )));
            }
            Err(e) => {
                return Err(crate::ApiError::Internal(format!(
                    "loading the inventory: {e}"
                )))
            }
        };
        let (records, summary) = self.with_state(|s| plan(s, &loaded, by));
        self.current
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .last_error = None;
        if records.is_empty() {
            self.current
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .pending = None;
            return Ok(Synced {
                found: true,
                ..Synced::default()
            });
        }
        if debounce {
            // An editor saving in place passes through a truncated file: record a change only
            // once the same change is seen on two looks in a row.
            let seen = serde_json::to_string(&records).unwrap_or_default();
            let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
            if cur.pending.as_deref() != Some(seen.as_str()) {
                cur.pending = Some(seen);
                return Ok(Synced {
                    found: true,
                    ..Synced::default()
                });
            }
            cur.pending = None;
        }
        // The state in force changes on the writer thread, with the commit: a caller that goes
        // away mid-request cannot leave the log and the state apart (and the change recorded
        // twice by the next look).
        let new_state = state_of(&loaded);
        let app = st.clone();
        let leaves = st
            .run_on_writer(move |l| {
                let leaves = l.append_internals(&records)?;
                let mut cur = app
                    .inventory
                    .current
                    .write()
                    .unwrap_or_else(|p| p.into_inner());
                cur.state = new_state;
                cur.pending = None;
                Ok(leaves)
            })
            .await?;
        tracing::info!(changes = ?summary, leaves = ?leaves, "recorded a change of the inventory or its policies");
        Ok(Synced {
            leaves,
            summary,
            found: true,
        })
    }
}

/// Looks at the inventory every [`POLL`] until `stop` flips.
pub async fn poll(st: crate::AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    if st.inventory.path().is_none() {
        return;
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // Load errors are logged by reload (once per distinct error); a failed commit here.
        if let Err(e) = st.inventory.reload(&st, "serve", true).await {
            if !matches!(e, crate::ApiError::BadRequest(_)) {
                tracing::error!(error = %e, "recording a change of the inventory failed; retrying at the next look");
            }
        }
    }
}
