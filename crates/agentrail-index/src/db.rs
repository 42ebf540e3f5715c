//! The index database (`DATA/index.sqlite`) and the indexer that keeps it level with the ledger.
//!
//! The index is derived data: every row can be recomputed from the ledger's leaves, so it is
//! written with `synchronous=NORMAL` (a crash may lose the last few index transactions, never
//! the ledger's events) and can be deleted and rebuilt at any time (`agentrail reindex`). It is
//! never on the ledger's write path: [`Index::catch_up`] reads leaves the ledger has already
//! committed, from the last indexed one, in chunks, each chunk and the watermark in one
//! transaction. Two processes catching up at once serialize on that transaction and never index
//! a leaf twice.

use crate::discover::Actors;
use crate::extract::{self, Header};
use crate::policy::{self, DecisionRow};
use crate::session::{is_internal, sortable, Session};
use crate::IndexError;
use agentrail_policy::PolicyState;
use agentrail_store::backend::{meta, Backend, LeafRow};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::Path;

/// The index's format; an index of another format is rebuilt.
pub const FORMAT: &str = "2";
/// Leaves indexed per transaction.
pub const CHUNK: usize = 100_000;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS index_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id      TEXT PRIMARY KEY,
    agent_id        TEXT NOT NULL,
    principal       TEXT,
    trigger_type    TEXT,
    initiator       TEXT,
    request_id      TEXT,
    conversation_id TEXT,
    status          TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    violation       INTEGER NOT NULL DEFAULT 0,
    state           BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions(started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_agent ON sessions(agent_id, started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_principal ON sessions(principal, started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_trigger ON sessions(trigger_type, started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_initiator ON sessions(initiator, started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_status ON sessions(status, started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_request ON sessions(request_id, started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_conversation ON sessions(conversation_id, started_at, session_id);
CREATE INDEX IF NOT EXISTS sessions_by_violation ON sessions(violation, started_at, session_id);
CREATE TABLE IF NOT EXISTS session_systems (
    system     TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (system, session_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS resource_refs (
    resource   TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    session_id TEXT NOT NULL,
    ts         TEXT NOT NULL,
    PRIMARY KEY (resource, leaf_index)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access (
    leaf_index INTEGER PRIMARY KEY,
    ts         TEXT NOT NULL,
    reader     TEXT NOT NULL,
    key_id     TEXT,
    read       TEXT NOT NULL,
    target     TEXT
);
CREATE INDEX IF NOT EXISTS access_by_reader ON access(reader, leaf_index);
-- Every item a read showed: its target and each session in its answer.
CREATE TABLE IF NOT EXISTS access_refs (
    target     TEXT NOT NULL,
    leaf_index INTEGER NOT NULL,
    PRIMARY KEY (target, leaf_index)
) WITHOUT ROWID;
-- Scope policy decisions other than no_policy, one per evaluated event.
CREATE TABLE IF NOT EXISTS policy_decisions (
    leaf_index      INTEGER PRIMARY KEY,
    session_id      TEXT NOT NULL,
    agent_id        TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    decision        TEXT NOT NULL,
    policies        TEXT NOT NULL,
    errors          TEXT NOT NULL,
    policy_set_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS policy_decisions_by_session ON policy_decisions(session_id, leaf_index);
-- Every agent id and principal seen in agent events, for discovery.
CREATE TABLE IF NOT EXISTS actors (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    first_ts   TEXT NOT NULL,
    last_ts    TEXT NOT NULL,
    events     INTEGER NOT NULL,
    actions    INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actor_sessions (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (kind, id, session_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS actor_systems (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    system     TEXT NOT NULL,
    PRIMARY KEY (kind, id, system)
) WITHOUT ROWID;
"#;

const INDEXED: &str = "indexed";
const LOG_ID: &str = "log_id";
const FORMAT_KEY: &str = "format";

/// A connection to the index database.
#[derive(Debug)]
pub struct Index {
    pub(crate) conn: Connection,
    /// The inventory and policies in force after the last indexed leaf, as last loaded or
    /// saved by this connection, with the meta value it was read from (to notice another
    /// process's progress).
    pub(crate) policy: Option<(String, PolicyState)>,
}

/// What one [`Index::catch_up`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatchUp {
    /// Leaves indexed by this call.
    pub indexed: u64,
    /// Leaves indexed in all, after this call.
    pub through: u64,
    /// True when the index was found stale (another log, another format, or longer than the
    /// ledger) and rebuilt from the first leaf.
    pub rebuilt: bool,
}

impl Index {
    /// Opens the index at `path`, creating it when absent.
    pub fn open(path: &Path) -> Result<Index, IndexError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-262144; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=16384;",
        )?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.execute_batch(SCHEMA)?;
        Ok(Index { conn, policy: None })
    }

    /// A throwaway index in memory, for the leaves an evidence bundle holds
    /// ([`Index::index_rows`]).
    pub fn open_in_memory() -> Result<Index, IndexError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Index { conn, policy: None })
    }

    /// Indexes `rows` (in leaf order, but not necessarily contiguous: a subset of a log, such
    /// as the sessions and policy records of an evidence bundle) in one transaction. Nothing
    /// ties this index to a ledger afterwards: use it only for what the rows themselves say.
    pub fn index_rows(&mut self, rows: &[LeafRow]) -> Result<(), IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (key, mut state) = policy::load_state(&tx, self.policy.take())?;
        let key = if apply(&tx, rows, &mut state)? {
            policy::save_state(&tx, &state)?
        } else {
            key
        };
        tx.commit()?;
        self.policy = Some((key, state));
        Ok(())
    }

    /// Leaves indexed so far.
    pub fn indexed(&self) -> Result<u64, IndexError> {
        Ok(read_meta(&self.conn, INDEXED)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Indexes every leaf the ledger held when the call began beyond the last indexed one (so a
    /// call ends even while a writer keeps appending). Rebuilds from scratch when the index
    /// belongs to another log or format, or claims more leaves than the ledger has (the ledger
    /// was replaced).
    pub fn catch_up(&mut self, ledger: &mut dyn Backend) -> Result<CatchUp, IndexError> {
        let log_id = ledger.meta(meta::LOG_ID)?.unwrap_or_default();
        let target = ledger.leaf_count()?;
        let mut out = CatchUp::default();
        loop {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Read under the index's write lock: another process may have indexed further since
            // this call began, and its watermark must be compared with the ledger as it is now,
            // or that process's work would look like an index longer than the ledger.
            let size = ledger.leaf_count()?;
            let stale = read_meta(&tx, FORMAT_KEY)?.is_some_and(|f| f != FORMAT)
                || read_meta(&tx, LOG_ID)?.is_some_and(|l| l != log_id);
            let mut from: u64 = read_meta(&tx, INDEXED)?
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if stale || from > size {
                clear(&tx)?;
                from = 0;
                out.rebuilt = true;
            }
            let until = target.min(size);
            if from >= until {
                write_meta(&tx, FORMAT_KEY, FORMAT)?;
                write_meta(&tx, LOG_ID, &log_id)?;
                tx.commit()?;
                out.through = from;
                return Ok(out);
            }
            let rows = ledger.leaves(from, CHUNK.min((until - from) as usize))?;
            if rows.is_empty() {
                return Err(IndexError::Corrupt(format!(
                    "the ledger reports {size} leaves but has none from {from}"
                )));
            }
            // Taken, and put back only once committed: a failed chunk leaves no cache.
            let (key, mut state) = policy::load_state(&tx, self.policy.take())?;
            let key = if apply(&tx, &rows, &mut state)? {
                policy::save_state(&tx, &state)?
            } else {
                key
            };
            let through = from + rows.len() as u64;
            write_meta(&tx, INDEXED, &through.to_string())?;
            write_meta(&tx, FORMAT_KEY, FORMAT)?;
            write_meta(&tx, LOG_ID, &log_id)?;
            tx.commit()?;
            self.policy = Some((key, state));
            out.indexed += rows.len() as u64;
            out.through = through;
        }
    }

    /// Drops everything indexed; the next [`Index::catch_up`] starts from the first leaf.
    pub fn reset(&mut self) -> Result<(), IndexError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        clear(&tx)?;
        tx.commit()?;
        self.policy = None;
        Ok(())
    }

    /// The leaves this index holds and the policy state after them, when the index belongs to
    /// `ledger` (same log, same format, not longer than the ledger); `None` when it would be
    /// rebuilt. Reads only: no catch-up.
    pub fn saved_policy_state(
        &self,
        ledger: &mut dyn Backend,
    ) -> Result<Option<(u64, PolicyState)>, IndexError> {
        let log_id = ledger.meta(meta::LOG_ID)?.unwrap_or_default();
        // One read transaction: the watermark and the state saved with it, from one commit.
        let tx = self.conn.unchecked_transaction()?;
        let current = read_meta(&tx, FORMAT_KEY)?.as_deref() == Some(FORMAT)
            && read_meta(&tx, LOG_ID)?.as_deref() == Some(log_id.as_str());
        let indexed: u64 = read_meta(&tx, INDEXED)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if !current || indexed > ledger.leaf_count()? {
            return Ok(None);
        }
        let state = policy::load_state(&tx, None)?.1;
        tx.finish()?;
        Ok(Some((indexed, state)))
    }

    /// How many sessions are indexed.
    pub fn session_count(&self) -> Result<u64, IndexError> {
        let n: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// One session's summary.
    pub fn session(&self, id: &str) -> Result<Option<Session>, IndexError> {
        load_session(&self.conn, id)
    }
}

fn read_meta(conn: &Connection, key: &str) -> Result<Option<String>, IndexError> {
    Ok(conn
        .prepare_cached("SELECT value FROM index_meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn write_meta(conn: &Connection, key: &str, value: &str) -> Result<(), IndexError> {
    conn.prepare_cached("INSERT OR REPLACE INTO index_meta (key, value) VALUES (?1, ?2)")?
        .execute([key, value])?;
    Ok(())
}

fn clear(conn: &Connection) -> Result<(), IndexError> {
    conn.execute_batch(
        "DELETE FROM sessions; DELETE FROM session_systems; DELETE FROM resource_refs; \
         DELETE FROM access; DELETE FROM access_refs; DELETE FROM policy_decisions; \
         DELETE FROM actors; DELETE FROM actor_sessions; DELETE FROM actor_systems; \
         DELETE FROM index_meta;",
    )?;
    Ok(())
}

/// One `agentrail.access` record, as the `access` table holds it.
struct AccessRow {
    leaf_index: u64,
    ts: String,
    reader: String,
    key_id: Option<String>,
    read: String,
    target: Option<String>,
    /// The target and every session the answer showed.
    refs: Vec<String>,
}

/// The filter columns of a session row.
#[derive(Debug, PartialEq, Eq)]
struct Columns([Option<String>; 9]);

impl Columns {
    fn of(s: &Session) -> Columns {
        Columns([
            Some(s.agent_id.clone()),
            s.principal.clone(),
            s.trigger_type.clone(),
            s.initiator.clone(),
            s.request_id.clone(),
            s.conversation_id.clone(),
            Some(s.status.clone()),
            Some(s.started_at().to_string()),
            Some((s.counts.violations > 0).to_string()),
        ])
    }
}

pub(crate) fn load_session(conn: &Connection, id: &str) -> Result<Option<Session>, IndexError> {
    let state: Option<Vec<u8>> = conn
        .prepare_cached("SELECT state FROM sessions WHERE session_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    state.map(|s| decode_session(&s)).transpose()
}

pub(crate) fn decode_session(state: &[u8]) -> Result<Session, IndexError> {
    serde_json::from_slice(state).map_err(|e| {
        IndexError::Corrupt(format!(
            "a session row does not decode: {e}; run `agentrail reindex`"
        ))
    })
}

fn corrupt_leaf(row: &LeafRow, e: impl std::fmt::Display) -> IndexError {
    IndexError::Corrupt(format!(
        "leaf {} does not read as an agentrail event ({e}); run `agentrail verify`",
        row.leaf_index
    ))
}

/// Indexes one chunk of leaves inside the caller's transaction.
/// Returns true when an inventory or policy record changed `state`.
fn apply(conn: &Connection, rows: &[LeafRow], state: &mut PolicyState) -> Result<bool, IndexError> {
    let mut state_changed = false;
    let mut decisions: Vec<DecisionRow> = Vec::new();
    let mut actors = Actors::default();
    // Each session with the filter columns it had when loaded (None: new), so a session whose
    // columns did not change is rewritten without touching the eight column indexes.
    let mut sessions: HashMap<String, (Option<Columns>, Session)> = HashMap::new();
    let mut refs: Vec<(String, u64, String, String)> = Vec::new();
    let mut access: Vec<AccessRow> = Vec::new();
    for row in rows {
        let h: Header<'_> = extract::header(&row.leaf).map_err(|e| corrupt_leaf(row, e))?;
        let ts = sortable(&h.ts);
        // A body that does not parse is tampering `verify` reports; the header still counts.
        let b = extract::body(row.body.as_deref()).unwrap_or_default();
        if is_internal(&h.kind) {
            if h.kind == "agentrail.access" {
                if let Some(a) = &b.access {
                    let s = |k: &str| a.get(k).and_then(|v| v.as_str()).map(str::to_string);
                    let mut refs: Vec<String> = s("target").into_iter().collect();
                    if let Some(shown) = a.pointer("/returned/sessions").and_then(|v| v.as_array())
                    {
                        refs.extend(shown.iter().filter_map(|v| v.as_str()).map(str::to_string));
                    }
                    access.push(AccessRow {
                        refs,
                        leaf_index: row.leaf_index,
                        ts,
                        reader: s("by").unwrap_or_default(),
                        key_id: s("key_id"),
                        read: s("read").unwrap_or_default(),
                        target: s("target"),
                    });
                }
            } else if policy::is_state_record(&h.kind) {
                // A record that does not apply (its hash does not match its text, a policy that
                // no longer compiles) leaves the state as it was: it is tampering or a bug that
                // `verify --policies` reports, and must not stop the index.
                state_changed |= policy::apply_record(state, row, &h.kind).unwrap_or(false);
            }
            continue;
        }
        let (_, session) = match sessions.get_mut(h.session_id.as_ref()) {
            Some(s) => s,
            None => {
                let entry = match load_session(conn, &h.session_id)? {
                    Some(s) => (Some(Columns::of(&s)), s),
                    None => (None, Session::new(row.leaf_index, &h, &ts)),
                };
                sessions.entry(h.session_id.to_string()).or_insert(entry)
            }
        };
        session.apply(row.leaf_index, &h, &b, &ts);
        if let Some(v) = policy::evaluate(state, &h, &b, session) {
            session.apply_verdict(row.leaf_index, v.decision.as_str(), &v.policies);
            decisions.push(DecisionRow::new(row.leaf_index, &h, v));
        }
        actors.see(&h, &b, &ts);
        let mut add = |r: &str| {
            refs.push((
                r.to_string(),
                row.leaf_index,
                h.session_id.to_string(),
                ts.clone(),
            ))
        };
        if let Some(a) = &b.action {
            extract::action_resources(a).for_each(&mut add);
        }
        if let Some(r) = b.diff.as_ref().and_then(|d| d.resource.as_deref()) {
            if !r.is_empty() {
                add(r);
            }
        }
    }
    let mut put = conn.prepare_cached(
        // An upsert, not a replace: SQLite then rewrites only the indexes whose columns changed.
        "INSERT INTO sessions (session_id, agent_id, principal, trigger_type, \
         initiator, request_id, conversation_id, status, started_at, violation, state) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?11, ?10) \
         ON CONFLICT (session_id) DO UPDATE SET agent_id = excluded.agent_id, \
         principal = excluded.principal, trigger_type = excluded.trigger_type, \
         initiator = excluded.initiator, request_id = excluded.request_id, \
         conversation_id = excluded.conversation_id, status = excluded.status, \
         started_at = excluded.started_at, violation = excluded.violation, \
         state = excluded.state",
    )?;
    let mut put_state =
        conn.prepare_cached("UPDATE sessions SET state = ?2 WHERE session_id = ?1")?;
    let mut sys = conn.prepare_cached(
        "INSERT OR IGNORE INTO session_systems (system, session_id) VALUES (?1, ?2)",
    )?;
    for (before, s) in sessions.values() {
        let state = serde_json::to_vec(s)
            .map_err(|e| IndexError::Corrupt(format!("encoding session {}: {e}", s.session_id)))?;
        if before.as_ref() == Some(&Columns::of(s)) {
            put_state.execute(params![s.session_id, state])?;
        } else {
            put.execute(params![
                s.session_id,
                s.agent_id,
                s.principal,
                s.trigger_type,
                s.initiator,
                s.request_id,
                s.conversation_id,
                s.status,
                s.started_at(),
                state,
                s.counts.violations > 0
            ])?;
        }
        for system in &s.systems {
            sys.execute([system, &s.session_id])?;
        }
    }
    let mut put_ref = conn.prepare_cached(
        "INSERT OR IGNORE INTO resource_refs (resource, leaf_index, session_id, ts) \
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (resource, leaf, session, ts) in &refs {
        put_ref.execute(params![resource, *leaf as i64, session, ts])?;
    }
    let mut put_access = conn.prepare_cached(
        "INSERT OR IGNORE INTO access (leaf_index, ts, reader, key_id, read, target) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut put_access_ref = conn
        .prepare_cached("INSERT OR IGNORE INTO access_refs (target, leaf_index) VALUES (?1, ?2)")?;
    for a in &access {
        for r in &a.refs {
            put_access_ref.execute(params![r, a.leaf_index as i64])?;
        }
        put_access.execute(params![
            a.leaf_index as i64,
            a.ts,
            a.reader,
            a.key_id,
            a.read,
            a.target
        ])?;
    }
    policy::put_decisions(conn, &decisions)?;
    actors.put(conn)?;
    Ok(state_changed)
}
