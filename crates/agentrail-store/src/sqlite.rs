//! The SQLite backend: one file, WAL journal, `synchronous=FULL`, so a commit that returned has
//! reached the disk (fsync of the WAL) and survives a crash or power loss.

use crate::backend::{meta, ApiKeyRow, Backend, CheckpointRow, LeafRow, StoreCounts, TileRow};
use crate::LedgerError;
use agentrail_core::Hash;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use std::path::Path;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS leaves (
    leaf_index   INTEGER PRIMARY KEY CHECK (leaf_index >= 0),
    event_id     TEXT NOT NULL UNIQUE,
    content_hash BLOB NOT NULL,
    session_id   TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    kind         TEXT NOT NULL,
    ts           TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    principal    TEXT,
    leaf         BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS leaves_by_session ON leaves(session_id, leaf_index);
CREATE INDEX IF NOT EXISTS leaves_by_agent ON leaves(agent_id, leaf_index);
CREATE INDEX IF NOT EXISTS leaves_by_ts ON leaves(ts);
CREATE TABLE IF NOT EXISTS bodies (
    leaf_index INTEGER PRIMARY KEY,
    body       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS tiles (
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    size      INTEGER PRIMARY KEY,
    root      BLOB NOT NULL,
    note      TEXT NOT NULL,
    signed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    agent         TEXT,
    secret_sha256 BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"#;

const LEAF_COLUMNS: &str = "l.leaf_index, l.event_id, l.content_hash, l.session_id, l.agent_id, \
     l.kind, l.ts, l.received_at, l.principal, l.leaf, b.body";

/// A ledger database in one SQLite file.
#[derive(Debug)]
pub struct SqliteBackend {
    conn: Connection,
    checkpointer: Option<Checkpointer>,
}

/// Copies the WAL into the database file on its own thread and connection, so that work (a
/// third of a commit's cost when SQLite does it inline) leaves the writer's commit path.
/// Passive checkpoints never block the writer or readers.
#[derive(Debug)]
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl SqliteBackend {
    /// Opens (and with `create`, creates) the database at `path`.
    pub fn open(path: &Path, create: bool) -> Result<Self, LedgerError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(LedgerError::Invalid(format!(
                "SQLite refused WAL mode (got {mode}) for {}",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384;")?;
        if create {
            conn.execute_batch(SCHEMA)?;
        }
        Ok(SqliteBackend {
            conn,
            checkpointer: None,
        })
    }

    /// For the one writer: WAL checkpoints move to a background thread with its own
    /// connection (every 250 ms, passive), and a final one truncates the WAL when the backend
    /// is dropped. Durability is unchanged: a commit is durable once its WAL frames are synced.
    pub fn checkpoint_in_background(&mut self, path: &Path) -> Result<(), LedgerError> {
        let bg = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        bg.busy_timeout(std::time::Duration::from_secs(10))?;
        bg.execute_batch("PRAGMA synchronous=FULL;")?;
        self.conn.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("agentrail-wal".into())
            .spawn(move || {
                let passive = || {
                    let _ = bg.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                };
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(std::time::Duration::from_millis(250))
                {
                    passive();
                }
                let _ = bg.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            })
            .map_err(|e| LedgerError::io("starting the WAL checkpoint thread", e))?;
        self.checkpointer = Some(Checkpointer {
            stop,
            thread: Some(thread),
        });
        Ok(())
    }

    /// Adds the tables a later version introduced to an existing store (every statement is
    /// IF NOT EXISTS, so nothing else changes). Only the writer calls it: readers never write.
    pub fn ensure_schema(&self) -> Result<(), LedgerError> {
        self.conn.execute_batch(SCHEMA)?;
        Ok(())
    }

    /// The `synchronous` pragma in force (2 = FULL): durability depends on it.
    pub fn synchronous(&self) -> Result<i64, LedgerError> {
        Ok(self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }

    /// Direct access for tests that must tamper with the store behind the ledger's back.
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn hash_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Hash> {
    let bytes: Vec<u8> = row.get(idx)?;
    let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Blob,
            format!("hash column holds {} bytes, not 32", b.len()).into(),
        )
    })?;
    Ok(Hash(arr))
}

/// Leaf and body bytes, also when an edit behind the ledger's back turned them into TEXT (as
/// SQL's `replace()` does): `verify` must then report the changed bytes, not fail to read them.
fn bytes_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Vec<u8>>> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(idx)? {
        ValueRef::Null => None,
        ValueRef::Blob(b) | ValueRef::Text(b) => Some(b.to_vec()),
        other => {
            return Err(rusqlite::Error::InvalidColumnType(
                idx,
                "bytes".into(),
                other.data_type(),
            ))
        }
    })
}

fn leaf_row(row: &Row<'_>) -> rusqlite::Result<LeafRow> {
    Ok(LeafRow {
        leaf_index: row.get::<_, i64>(0)? as u64,
        event_id: row.get(1)?,
        content_hash: hash_col(row, 2)?,
        session_id: row.get(3)?,
        agent_id: row.get(4)?,
        kind: row.get(5)?,
        ts: row.get(6)?,
        received_at: row.get(7)?,
        principal: row.get(8)?,
        leaf: bytes_col(row, 9)?.unwrap_or_default(),
        body: bytes_col(row, 10)?,
    })
}

fn checkpoint_row(row: &Row<'_>) -> rusqlite::Result<CheckpointRow> {
    Ok(CheckpointRow {
        size: row.get::<_, i64>(0)? as u64,
        root: hash_col(row, 1)?,
        note: row.get(2)?,
        signed_at: row.get(3)?,
    })
}

fn to_i64(v: u64) -> Result<i64, LedgerError> {
    i64::try_from(v)
        .map_err(|_| LedgerError::Invalid(format!("{v} exceeds SQLite's integer range")))
}

const CHECKPOINT_COLUMNS: &str = "size, root, note, signed_at";

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn leaf_count(&mut self) -> Result<u64, LedgerError> {
        // leaf_index is dense from 0, so the next index is the count; MAX is an index lookup.
        let max: Option<i64> =
            self.conn
                .query_row("SELECT MAX(leaf_index) FROM leaves", [], |r| r.get(0))?;
        Ok(max.map_or(0, |m| m as u64 + 1))
    }

    fn find_event_ids(&mut self, ids: &[&str]) -> Result<Vec<Option<(u64, Hash)>>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT leaf_index, content_hash FROM leaves WHERE event_id = ?1")?;
        ids.iter()
            .map(|id| {
                Ok(stmt
                    .query_row([id], |r| Ok((r.get::<_, i64>(0)? as u64, hash_col(r, 1)?)))
                    .optional()?)
            })
            .collect()
    }

    fn commit_with_keys(
        &mut self,
        leaves: &[LeafRow],
        tiles: &[TileRow],
        keys: &[ApiKeyRow],
    ) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        {
            let mut ins_leaf = tx.prepare_cached(
                "INSERT INTO leaves (leaf_index, event_id, content_hash, session_id, agent_id, kind, \
                 ts, received_at, principal, leaf) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut ins_body =
                tx.prepare_cached("INSERT INTO bodies (leaf_index, body) VALUES (?1, ?2)")?;
            for l in leaves {
                let idx = to_i64(l.leaf_index)?;
                ins_leaf.execute(params![
                    idx,
                    l.event_id,
                    &l.content_hash.0[..],
                    l.session_id,
                    l.agent_id,
                    l.kind,
                    l.ts,
                    l.received_at,
                    l.principal,
                    l.leaf
                ])?;
                if let Some(body) = &l.body {
                    ins_body.execute(params![idx, body])?;
                }
            }
            let mut up_tile = tx.prepare_cached(
                "INSERT INTO tiles (level, idx, hashes) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(level, idx) DO UPDATE SET hashes = excluded.hashes",
            )?;
            for t in tiles {
                up_tile.execute(params![t.level, to_i64(t.index)?, t.hashes])?;
            }
            if !keys.is_empty() {
                let mut up_key = tx.prepare_cached(
                    "INSERT INTO api_keys (id, name, role, agent, secret_sha256, created_at, revoked_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                     ON CONFLICT(id) DO UPDATE SET revoked_at = excluded.revoked_at",
                )?;
                for k in keys {
                    up_key.execute(params![
                        k.id,
                        k.name,
                        k.role,
                        k.agent,
                        &k.secret_sha256.0[..],
                        k.created_at,
                        k.revoked_at
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn store_counts(&mut self) -> Result<StoreCounts, LedgerError> {
        let (leaf_rows, negative_indexes): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(leaf_index < 0), 0) FROM leaves",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let orphan_bodies: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM bodies b \
             WHERE NOT EXISTS (SELECT 1 FROM leaves l WHERE l.leaf_index = b.leaf_index)",
            [],
            |r| r.get(0),
        )?;
        Ok(StoreCounts {
            leaf_rows: leaf_rows as u64,
            negative_indexes: negative_indexes as u64,
            orphan_bodies: orphan_bodies as u64,
        })
    }

    fn verify_snapshot(&mut self) -> Result<(u64, StoreCounts, Vec<ApiKeyRow>), LedgerError> {
        // A deferred transaction takes its read snapshot at the first SELECT and keeps it.
        self.conn.execute_batch("BEGIN")?;
        let read = (|| {
            let size = self.leaf_count()?;
            let counts = self.store_counts()?;
            let keys = self.api_keys()?;
            Ok((size, counts, keys))
        })();
        self.conn.execute_batch("COMMIT")?;
        read
    }

    fn api_keys(&mut self) -> Result<Vec<ApiKeyRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, role, agent, secret_sha256, created_at, revoked_at FROM api_keys \
             ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ApiKeyRow {
                id: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                agent: r.get(3)?,
                secret_sha256: hash_col(r, 4)?,
                created_at: r.get(5)?,
                revoked_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn leaves(&mut self, start: u64, limit: usize) -> Result<Vec<LeafRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {LEAF_COLUMNS} FROM leaves l LEFT JOIN bodies b USING (leaf_index) \
             WHERE l.leaf_index >= ?1 ORDER BY l.leaf_index LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![to_i64(start)?, limit as i64], leaf_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn leaf(&mut self, index: u64) -> Result<Option<LeafRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {LEAF_COLUMNS} FROM leaves l LEFT JOIN bodies b USING (leaf_index) \
             WHERE l.leaf_index = ?1"
        ))?;
        Ok(stmt.query_row([to_i64(index)?], leaf_row).optional()?)
    }

    fn leaf_by_event_id(&mut self, id: &str) -> Result<Option<LeafRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {LEAF_COLUMNS} FROM leaves l LEFT JOIN bodies b USING (leaf_index) \
             WHERE l.event_id = ?1"
        ))?;
        Ok(stmt.query_row([id], leaf_row).optional()?)
    }

    fn session_leaves(
        &mut self,
        session_id: &str,
        below: u64,
    ) -> Result<Vec<LeafRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {LEAF_COLUMNS} FROM leaves l LEFT JOIN bodies b USING (leaf_index) \
             WHERE l.session_id = ?1 AND l.leaf_index < ?2 ORDER BY l.leaf_index"
        ))?;
        let rows = stmt.query_map(params![session_id, to_i64(below)?], leaf_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn leaves_at(&mut self, indexes: &[u64]) -> Result<Vec<LeafRow>, LedgerError> {
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            if let Some(row) = self.leaf(i)? {
                out.push(row);
            }
        }
        Ok(out)
    }

    fn tile(&mut self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT hashes FROM tiles WHERE level = ?1 AND idx = ?2")?;
        Ok(stmt
            .query_row(params![level, to_i64(index)?], |r| r.get(0))
            .optional()?)
    }

    fn tile_keys(&mut self) -> Result<Vec<(u8, u64)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT level, idx FROM tiles ORDER BY level, idx")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, u8>(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn checkpoints(&mut self) -> Result<Vec<CheckpointRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size"
        ))?;
        let rows = stmt.query_map([], checkpoint_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest_checkpoint(&mut self) -> Result<Option<CheckpointRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY size DESC LIMIT 1"
        ))?;
        Ok(stmt.query_row([], checkpoint_row).optional()?)
    }

    fn checkpoint_at(&mut self, size: u64) -> Result<Option<CheckpointRow>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CHECKPOINT_COLUMNS} FROM checkpoints WHERE size = ?1"
        ))?;
        Ok(stmt.query_row([to_i64(size)?], checkpoint_row).optional()?)
    }

    fn put_checkpoint(&mut self, row: &CheckpointRow) -> Result<(), LedgerError> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO checkpoints (size, root, note, signed_at) VALUES (?1, ?2, ?3, ?4)",
            params![to_i64(row.size)?, &row.root.0[..], row.note, row.signed_at],
        )?;
        tx.execute(
            "DELETE FROM meta WHERE key = ?1",
            [meta::PENDING_CHECKPOINT],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        Ok(stmt.query_row([key], |r| r.get(0)).optional()?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }
}
