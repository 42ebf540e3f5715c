//! The ledger: a data directory, its signing key, and the one append path.
//!
//! Layout of a data directory (created mode 0700):
//! - `ledger.sqlite` (+ `-wal`, `-shm`): leaves, bodies, tiles, checkpoints, meta;
//! - `signing.key` (mode 0600): the log's Ed25519 key as a C2SP signer key;
//! - `lock`: the writer lock ([`crate::lock`]).

use crate::apikeys;
use crate::backend::{meta, ApiKeyRow, Backend, CheckpointRow, LeafRow};
use crate::clock::Clock;
use crate::lock::DirLock;
use crate::sqlite::SqliteBackend;
use crate::tiles::{TileReader, TileWriter};
use crate::LedgerError;
use agentrail_core::checkpoint::{open_checkpoint, sign_checkpoint, Checkpoint, TlogProof};
use agentrail_core::event::{self, ValidEvent};
use agentrail_core::merkle::{self, CompactRange};
use agentrail_core::note::{Signer, Verifier};
use agentrail_core::{timefmt, Hash};
use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The agent id and principal of the records agentrail writes itself (`agentrail.*` kinds).
pub const SERVER_IDENTITY: &str = "agentrail";

/// The on-disk format version of a data directory.
pub const FORMAT_VERSION: &str = "1";
/// Default minimum time between two interval checkpoints.
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: i64 = 1000;

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }
    pub fn db(&self) -> PathBuf {
        self.root.join("ledger.sqlite")
    }
    pub fn key(&self) -> PathBuf {
        self.root.join("signing.key")
    }
    /// The per-log secret that keys redaction HMACs.
    pub fn redaction_key(&self) -> PathBuf {
        self.root.join("redaction.key")
    }
    /// The session index: derived from the ledger, rebuildable at any time (`agentrail reindex`).
    pub fn index(&self) -> PathBuf {
        self.root.join("index.sqlite")
    }
    /// Where a running server says how to reach it (address and local admin token).
    pub fn server_info(&self) -> PathBuf {
        self.root.join("server.json")
    }
    fn require(&self) -> Result<(), LedgerError> {
        if self.db().is_file() && self.key().is_file() {
            Ok(())
        } else {
            Err(LedgerError::NotInitialized(self.root.clone()))
        }
    }
}

/// Options of `agentrail init`.
#[derive(Debug, Clone, Default)]
pub struct InitOptions {
    /// The checkpoint origin (and signing key name); derived from the host name when absent.
    pub origin: Option<String>,
    /// A second directory each new checkpoint is also written to.
    pub publish: Option<PathBuf>,
}

/// What happened to one appended event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored at this leaf index.
    Appended { leaf_index: u64 },
    /// The same event id with the same content is already stored at this index.
    Duplicate { leaf_index: u64 },
    /// The same event id is stored at this index with different content.
    Conflict { leaf_index: u64 },
}

/// Origins become note key names: no spaces, no '+', printable, at most 255 bytes.
pub fn check_origin(origin: &str) -> Result<(), LedgerError> {
    let ok = !origin.is_empty()
        && origin.len() <= 255
        && !origin.contains('+')
        && origin
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control());
    if ok {
        Ok(())
    } else {
        Err(LedgerError::Invalid(format!(
            "origin {origin:?} must be 1 to 255 printable characters without spaces or '+'"
        )))
    }
}

fn fill_random(buf: &mut [u8]) -> Result<(), LedgerError> {
    getrandom::fill(buf)
        .map_err(|e| LedgerError::io("reading randomness", std::io::Error::other(e.to_string())))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], LedgerError> {
    let mut b = [0u8; N];
    fill_random(&mut b)?;
    Ok(b)
}

fn default_origin(log_id: &str) -> String {
    let host = gethostname::gethostname().to_string_lossy().to_lowercase();
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let host = if host.is_empty() {
        "localhost".into()
    } else {
        host
    };
    format!("{host}/agentrail/{log_id}")
}

/// Builds `agentrail.*` records as agentrail's own events, stamped now.
pub fn internal_events(
    records: &[(&str, serde_json::Value)],
    clock: &dyn Clock,
) -> Result<Vec<ValidEvent>, LedgerError> {
    let ts = now_string(clock);
    records
        .iter()
        .map(|(kind, record)| {
            event::internal_event(kind, SERVER_IDENTITY, SERVER_IDENTITY, &ts, record.clone())
                .map_err(|e| LedgerError::Invalid(format!("internal record {kind}: {e}")))
        })
        .collect()
}

/// The leaf indexes of records that must all have been appended (never duplicates: each
/// record's content includes a fresh timestamp or nonce).
pub fn appended_leaves(
    outcomes: impl IntoIterator<Item = AppendOutcome>,
    expected: usize,
) -> Result<Vec<u64>, LedgerError> {
    let mut leaves = Vec::with_capacity(expected);
    for o in outcomes {
        match o {
            AppendOutcome::Appended { leaf_index } => leaves.push(leaf_index),
            other => {
                return Err(LedgerError::Corrupt(format!(
                    "an internal record was not appended: {other:?}"
                )))
            }
        }
    }
    if leaves.len() != expected {
        return Err(LedgerError::Corrupt(format!(
            "{expected} internal records sent, {} appended",
            leaves.len()
        )));
    }
    Ok(leaves)
}

fn now_string(clock: &dyn Clock) -> String {
    timefmt::format_unix_nanos(clock.now_unix_nanos())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), LedgerError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| LedgerError::io(format!("setting permissions of {}", path.display()), e))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), LedgerError> {
    Ok(())
}

/// Writes a file durably: temp file, fsync, rename, fsync of the directory.
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), LedgerError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let ctx = |what: &str| format!("{what} {}", tmp.display());
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        let mut f = opts
            .open(&tmp)
            .map_err(|e| LedgerError::io(ctx("creating"), e))?;
        f.write_all(data)
            .and_then(|_| f.sync_all())
            .map_err(|e| LedgerError::io(ctx("writing"), e))?;
    }
    fs::rename(&tmp, path)
        .map_err(|e| LedgerError::io(format!("renaming into {}", path.display()), e))?;
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The writer: owns the lock, the signing key and the right edge of the tree.
pub struct Ledger {
    dir: DataDir,
    backend: Box<dyn Backend>,
    _lock: DirLock,
    signer: Signer,
    origin: String,
    frontier: CompactRange,
    tiles: TileWriter,
    clock: Arc<dyn Clock>,
    checkpoint_interval_nanos: i128,
    last_checkpoint: Option<(u64, i128)>,
    publish: Option<PathBuf>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("dir", &self.dir.root)
            .field("origin", &self.origin)
            .field("size", &self.frontier.size())
            .finish()
    }
}

impl Ledger {
    /// Creates a data directory: the database, the signing key (0600) and the origin.
    pub fn init(dir: &Path, opts: &InitOptions, clock: &dyn Clock) -> Result<String, LedgerError> {
        let dd = DataDir::new(dir);
        if dd.db().exists() || dd.key().exists() {
            // `format` is the last thing init writes: without it, an earlier init died half-way
            // and left nothing worth keeping (no event can have been appended).
            let complete = dd.db().exists()
                && SqliteBackend::open(&dd.db(), false)
                    .and_then(|mut b| b.meta(meta::FORMAT))
                    .map_or(true, |f| f.is_some());
            if complete {
                return Err(LedgerError::AlreadyInitialized(dir.to_path_buf()));
            }
            for p in [
                dd.key(),
                dd.db(),
                dd.root.join("ledger.sqlite-wal"),
                dd.root.join("ledger.sqlite-shm"),
            ] {
                if p.exists() {
                    fs::remove_file(&p).map_err(|e| {
                        LedgerError::io(format!("removing the half-made {}", p.display()), e)
                    })?;
                }
            }
        }
        fs::create_dir_all(dir)
            .map_err(|e| LedgerError::io(format!("creating {}", dir.display()), e))?;
        set_mode(dir, 0o700)?;
        let _lock = DirLock::acquire(dir, "agentrail init")?;
        let log_id = agentrail_core::hash::to_hex(&random_bytes::<8>()?);
        let origin = match &opts.origin {
            Some(o) => o.clone(),
            None => default_origin(&log_id),
        };
        check_origin(&origin)?;
        let signer = Signer::from_seed(&origin, random_bytes::<32>()?)
            .map_err(|e| LedgerError::Key(e.to_string()))?;
        if let Some(p) = &opts.publish {
            fs::create_dir_all(p)
                .map_err(|e| LedgerError::io(format!("creating {}", p.display()), e))?;
        }
        write_atomic(
            &dd.key(),
            format!("{}\n", signer.to_skey()).as_bytes(),
            0o600,
        )?;
        set_mode(&dd.key(), 0o600)?;
        let mut backend = SqliteBackend::open(&dd.db(), true)?;
        set_mode(&dd.db(), 0o600)?;
        backend.set_meta(meta::ORIGIN, &origin)?;
        backend.set_meta(meta::LOG_ID, &log_id)?;
        backend.set_meta(meta::VKEY, &signer.verifier().to_vkey())?;
        backend.set_meta(meta::CREATED_AT, &now_string(clock))?;
        if let Some(p) = &opts.publish {
            let abs = fs::canonicalize(p)
                .map_err(|e| LedgerError::io(format!("resolving {}", p.display()), e))?;
            backend.set_meta(meta::PUBLISH_DIR, &abs.to_string_lossy())?;
        }
        // Last: the mark of a complete init.
        backend.set_meta(meta::FORMAT, FORMAT_VERSION)?;
        Ok(origin)
    }

    /// Opens a data directory for writing. `what` names this writer for the lock file.
    ///
    /// Finishes a checkpoint whose signing was interrupted, and refuses when the store is behind,
    /// or forked from, the last checkpoint published out of band.
    pub fn open(dir: &Path, what: &str, clock: Arc<dyn Clock>) -> Result<Ledger, LedgerError> {
        let dd = DataDir::new(dir);
        dd.require()?;
        let lock = DirLock::acquire(dir, what)?;
        let mut sqlite = SqliteBackend::open(&dd.db(), false)?;
        sqlite.ensure_schema()?;
        sqlite.checkpoint_in_background(&dd.db())?;
        let mut backend: Box<dyn Backend> = Box::new(sqlite);
        check_format(backend.as_mut())?;
        let signer = load_signer(&dd)?;
        let origin = backend
            .meta(meta::ORIGIN)?
            .ok_or_else(|| LedgerError::Corrupt("meta has no origin".into()))?;
        if signer.name() != origin {
            return Err(LedgerError::Key(format!(
                "signing.key is for {:?}, but this log's origin is {origin:?}",
                signer.name()
            )));
        }
        let size = backend.leaf_count()?;
        let frontier = CompactRange::from_reader(&mut TileReader::new(backend.as_mut()), size)?;
        let tiles = TileWriter::load(backend.as_mut(), size)?;
        let publish = backend.meta(meta::PUBLISH_DIR)?.map(PathBuf::from);
        let mut ledger = Ledger {
            dir: dd,
            backend,
            _lock: lock,
            signer,
            origin,
            frontier,
            tiles,
            clock,
            checkpoint_interval_nanos: DEFAULT_CHECKPOINT_INTERVAL_MS as i128 * 1_000_000,
            last_checkpoint: None,
            publish,
        };
        ledger.check_published()?;
        ledger.finish_pending_checkpoint()?;
        if let Some(cp) = ledger.backend.latest_checkpoint()? {
            ledger.check_consistent_with(&cp)?;
            ledger.last_checkpoint = Some((cp.size, i128::MIN));
        }
        Ok(ledger)
    }

    /// Sets the minimum time between interval checkpoints.
    pub fn set_checkpoint_interval_ms(&mut self, ms: u64) {
        self.checkpoint_interval_nanos = ms as i128 * 1_000_000;
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }
    pub fn origin(&self) -> &str {
        &self.origin
    }
    pub fn verifier(&self) -> Verifier {
        self.signer.verifier()
    }
    /// The clock this ledger stamps `received_at` with.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
    /// The directory each checkpoint is also published to, if any.
    pub fn publish_dir(&self) -> Option<&Path> {
        self.publish.as_deref()
    }

    /// Appends validated events in one durable transaction. Duplicates (same id, same content)
    /// and conflicts (same id, other content), against the store or earlier in the batch, append
    /// nothing. Returns one outcome per event, in order, only after the commit is durable.
    pub fn append(
        &mut self,
        events: &[ValidEvent],
        source: &str,
    ) -> Result<Vec<AppendOutcome>, LedgerError> {
        let batch = prepare(events, source, self.clock.as_ref())?;
        let mut out = self.append_prepared(&[batch])?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Group commit: appends several callers' prepared batches, in order, in one durable
    /// transaction. Ids are resolved across all of them as if they were one batch.
    pub fn append_prepared(
        &mut self,
        groups: &[Prepared],
    ) -> Result<Vec<Vec<AppendOutcome>>, LedgerError> {
        self.append_prepared_with_keys(groups, &[])
    }

    fn append_prepared_with_keys(
        &mut self,
        groups: &[Prepared],
        keys: &[ApiKeyRow],
    ) -> Result<Vec<Vec<AppendOutcome>>, LedgerError> {
        let total: usize = groups.iter().map(|g| g.events.len()).sum();
        // Resolve ids: first against the store, then against earlier events of these batches.
        let mut unique_ids: Vec<&str> = Vec::with_capacity(total);
        let mut seen: std::collections::HashSet<&str> =
            std::collections::HashSet::with_capacity(total);
        for g in groups {
            for ev in &g.events {
                if seen.insert(ev.row.event_id.as_str()) {
                    unique_ids.push(ev.row.event_id.as_str());
                }
            }
        }
        let mut first_seen: HashMap<&str, (u64, Hash)> = HashMap::with_capacity(total);
        for (id, found) in unique_ids
            .iter()
            .copied()
            .zip(self.backend.find_event_ids(&unique_ids)?)
        {
            if let Some(f) = found {
                // An id stored outside the tree would make this event a "duplicate" of nothing
                // the log proves: refuse rather than acknowledge it.
                if f.0 >= self.frontier.size() {
                    return Err(LedgerError::Corrupt(format!(
                        "event id {id:?} is stored at index {} outside the tree of {} leaves",
                        f.0 as i64,
                        self.frontier.size()
                    )));
                }
                first_seen.insert(id, f);
            }
        }

        let saved_frontier = self.frontier.clone();
        let saved_tiles = self.tiles.clone();
        let mut rows: Vec<LeafRow> = Vec::with_capacity(total);
        let mut outcomes = Vec::with_capacity(groups.len());
        for g in groups {
            let mut group_out = Vec::with_capacity(g.events.len());
            for ev in &g.events {
                let id = ev.row.event_id.as_str();
                if let Some(&(idx, hash)) = first_seen.get(id) {
                    group_out.push(if hash == ev.row.content_hash {
                        AppendOutcome::Duplicate { leaf_index: idx }
                    } else {
                        AppendOutcome::Conflict { leaf_index: idx }
                    });
                    continue;
                }
                let leaf_index = self.frontier.size();
                let tiles = &mut self.tiles;
                self.frontier.push(ev.leaf_hash, |level, index, hash| {
                    tiles.add(level, index, hash)
                });
                first_seen.insert(id, (leaf_index, ev.row.content_hash));
                rows.push(LeafRow {
                    leaf_index,
                    ..ev.row.clone()
                });
                group_out.push(AppendOutcome::Appended { leaf_index });
            }
            outcomes.push(group_out);
        }
        if rows.is_empty() && keys.is_empty() {
            return Ok(outcomes);
        }
        let dirty = self.tiles.take_dirty();
        if let Err(e) = self.backend.commit_with_keys(&rows, &dirty, keys) {
            self.frontier = saved_frontier;
            self.tiles = saved_tiles;
            return Err(e);
        }
        Ok(outcomes)
    }

    /// Appends one `agentrail.*` record (written by agentrail itself, never by a client).
    pub fn append_internal(
        &mut self,
        kind: &str,
        record: serde_json::Value,
    ) -> Result<u64, LedgerError> {
        self.append_internal_with_keys(kind, record, &[])
    }

    /// Appends several `agentrail.*` records in one durable commit, in order: either all are in
    /// the log or none is. Returns their leaf indexes.
    pub fn append_internals(
        &mut self,
        records: &[(&str, serde_json::Value)],
    ) -> Result<Vec<u64>, LedgerError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let source = if records.iter().all(|(_, r)| r["by"] == "cli") {
            "cli"
        } else {
            "api"
        };
        let events = internal_events(records, self.clock.as_ref())?;
        let batch = prepare(&events, source, self.clock.as_ref())?;
        let out = self.append_prepared_with_keys(&[batch], &[])?;
        appended_leaves(out.into_iter().flatten(), records.len())
    }

    fn append_internal_with_keys(
        &mut self,
        kind: &str,
        record: serde_json::Value,
        keys: &[ApiKeyRow],
    ) -> Result<u64, LedgerError> {
        // Records made at the command line say so; the rest came through the API.
        let source = if record["by"] == "cli" { "cli" } else { "api" };
        let ts = now_string(self.clock.as_ref());
        let ev = event::internal_event(kind, SERVER_IDENTITY, SERVER_IDENTITY, &ts, record)
            .map_err(|e| LedgerError::Invalid(format!("internal record {kind}: {e}")))?;
        let batch = prepare(std::slice::from_ref(&ev), source, self.clock.as_ref())?;
        let out = self.append_prepared_with_keys(&[batch], keys)?;
        match out.first().and_then(|g| g.first()) {
            Some(AppendOutcome::Appended { leaf_index }) => Ok(*leaf_index),
            other => Err(LedgerError::Corrupt(format!(
                "internal record {kind} was not appended: {other:?}"
            ))),
        }
    }

    /// Mints an API key, stores its hash and records its creation in the ledger, together.
    /// Returns the key text (to show once) and its row.
    pub fn create_api_key(
        &mut self,
        role: &str,
        agent: Option<&str>,
        name: &str,
        by: &str,
    ) -> Result<(String, ApiKeyRow), LedgerError> {
        let (text, row) = apikeys::mint(role, agent, name, &now_string(self.clock.as_ref()))?;
        let record = apikeys::record("create", &row, by);
        self.append_internal_with_keys("agentrail.apikey", record, std::slice::from_ref(&row))?;
        Ok((text, row))
    }

    /// Revokes an API key and records it in the ledger, together.
    pub fn revoke_api_key(&mut self, id: &str, by: &str) -> Result<ApiKeyRow, LedgerError> {
        let mut row = self
            .backend
            .api_keys()?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| LedgerError::NotFound(format!("no API key with id {id:?}")))?;
        if row.revoked_at.is_some() {
            return Err(LedgerError::Invalid(format!(
                "API key {id} is already revoked"
            )));
        }
        row.revoked_at = Some(now_string(self.clock.as_ref()));
        let record = apikeys::record("revoke", &row, by);
        self.append_internal_with_keys("agentrail.apikey", record, std::slice::from_ref(&row))?;
        Ok(row)
    }

    /// Every API key (hashes only), revoked ones included.
    pub fn api_keys(&mut self) -> Result<Vec<ApiKeyRow>, LedgerError> {
        self.backend.api_keys()
    }

    /// Signs a checkpoint if the tree grew and the interval since the last one has passed.
    pub fn maybe_checkpoint(&mut self) -> Result<Option<CheckpointRow>, LedgerError> {
        let now = self.clock.now_unix_nanos();
        if let Some((size, at)) = self.last_checkpoint {
            if size == self.size() || now.saturating_sub(at) < self.checkpoint_interval_nanos {
                return Ok(None);
            }
        } else if self.size() == 0 {
            return Ok(None);
        }
        self.checkpoint_now().map(Some)
    }

    /// Returns a checkpoint of the current tree, signing a new one if the latest is older.
    pub fn checkpoint_now(&mut self) -> Result<CheckpointRow, LedgerError> {
        let size = self.size();
        let root = self.root();
        if let Some(latest) = self.backend.latest_checkpoint()? {
            if latest.size == size {
                if latest.root != root {
                    return Err(LedgerError::RefuseToSign(format!(
                        "the tree of size {size} has root {root}, but checkpoint {size} signed {}",
                        latest.root
                    )));
                }
                return Ok(latest);
            }
            self.check_consistent_with(&latest)?;
        }
        // Persist what is about to be signed, so a crash between signing and storing re-signs
        // the same size and root (Ed25519 is deterministic: the same note) and never another.
        self.backend.set_meta(
            meta::PENDING_CHECKPOINT,
            &format!("{size} {}", root.to_hex()),
        )?;
        self.sign_and_store(size, root)
    }

    fn sign_and_store(&mut self, size: u64, root: Hash) -> Result<CheckpointRow, LedgerError> {
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        };
        let note =
            sign_checkpoint(&cp, &self.signer).map_err(|e| LedgerError::Key(e.to_string()))?;
        let row = CheckpointRow {
            size,
            root,
            note,
            signed_at: now_string(self.clock.as_ref()),
        };
        self.backend.put_checkpoint(&row)?;
        self.last_checkpoint = Some((size, self.clock.now_unix_nanos()));
        if let Some(dir) = &self.publish {
            write_atomic(&dir.join("checkpoint"), row.note.as_bytes(), 0o644)?;
        }
        Ok(row)
    }

    fn finish_pending_checkpoint(&mut self) -> Result<(), LedgerError> {
        // An empty value is a cleared record (the trait sets, it does not delete, meta keys).
        let pending = match self.backend.meta(meta::PENDING_CHECKPOINT)? {
            Some(p) if !p.is_empty() => p,
            _ => return Ok(()),
        };
        let parsed = pending
            .split_once(' ')
            .and_then(|(s, r)| Some((s.parse::<u64>().ok()?, Hash::from_hex(r)?)));
        let Some((size, root)) = parsed else {
            return Err(LedgerError::Corrupt(format!(
                "pending checkpoint record {pending:?} is malformed"
            )));
        };
        if let Some(done) = self.backend.checkpoint_at(size)? {
            if done.root == root {
                // Stored, but the pending record survived the crash; clear it.
                self.backend.set_meta(meta::PENDING_CHECKPOINT, "")?;
                return Ok(());
            }
            return Err(LedgerError::RefuseToSign(format!(
                "a checkpoint of size {size} was being signed with root {root}, but one of that size with root {} is already stored",
                done.root
            )));
        }
        if size > self.size() {
            return Err(LedgerError::RefuseToSign(format!(
                "a checkpoint of size {size} was being signed, but the store has only {} leaves",
                self.size()
            )));
        }
        let actual = merkle::root(&mut TileReader::new(self.backend.as_mut()), size)?;
        if actual != root {
            return Err(LedgerError::RefuseToSign(format!(
                "a checkpoint of size {size} was being signed with root {root}, but the tree now has root {actual} there"
            )));
        }
        self.sign_and_store(size, root)?;
        Ok(())
    }

    /// The tree must still have, at `cp.size`, the root that `cp` signed.
    fn check_consistent_with(&mut self, cp: &CheckpointRow) -> Result<(), LedgerError> {
        if cp.size > self.size() {
            return Err(LedgerError::RefuseToSign(format!(
                "checkpoint {} is larger than the store ({} leaves): leaves were removed",
                cp.size,
                self.size()
            )));
        }
        let actual = merkle::root(&mut TileReader::new(self.backend.as_mut()), cp.size)?;
        if actual != cp.root {
            return Err(LedgerError::RefuseToSign(format!(
                "the tree at size {} has root {actual}, not the root {} that its checkpoint signed: the store was altered",
                cp.size, cp.root
            )));
        }
        Ok(())
    }

    fn check_published(&mut self) -> Result<(), LedgerError> {
        let Some(dir) = &self.publish else {
            return Ok(());
        };
        let path = dir.join("checkpoint");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(LedgerError::io(format!("reading {}", path.display()), e)),
        };
        let cp = open_checkpoint(&text, &self.signer.verifier()).map_err(|e| {
            LedgerError::RefuseToSign(format!(
                "the published checkpoint {} does not verify with this log's key: {e}",
                path.display()
            ))
        })?;
        if cp.size > self.size() {
            return Err(LedgerError::RefuseToSign(format!(
                "the store has {} leaves but {} published a checkpoint of size {}: this store is behind (restored from a backup?); signing now would fork the log",
                self.size(),
                path.display(),
                cp.size
            )));
        }
        let actual = merkle::root(&mut TileReader::new(self.backend.as_mut()), cp.size)?;
        if actual != cp.root {
            return Err(LedgerError::RefuseToSign(format!(
                "the tree at size {} has root {actual}, but {} published root {}: the store has forked",
                cp.size,
                path.display(),
                cp.root
            )));
        }
        Ok(())
    }

    /// Read access through the writer's own connection.
    pub fn reader(&mut self) -> ReadLedger<'_> {
        ReadLedger {
            backend: self.backend.as_mut(),
        }
    }
}

/// One event sealed and ready to append: the row it becomes (its `leaf_index` is assigned at
/// commit) and its leaf hash.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub row: LeafRow,
    pub leaf_hash: Hash,
}

/// A batch of sealed events from one caller.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub events: Vec<PreparedEvent>,
}

/// Seals a batch: nonces, `received_at`, canonical bytes and hashes. This is the CPU-heavy half
/// of an append and needs no lock, so callers do it on their own threads and the one writer
/// only resolves ids, extends the tree and commits.
pub fn prepare<E: std::borrow::Borrow<ValidEvent>>(
    events: &[E],
    source: &str,
    clock: &dyn Clock,
) -> Result<Prepared, LedgerError> {
    check_source(source)?;
    let received_at = now_string(clock);
    // One read of the system's randomness for the whole batch, not one per event.
    let mut nonces = vec![0u8; 16 * events.len()];
    fill_random(&mut nonces)?;
    let events = events
        .iter()
        .zip(nonces.chunks_exact(16))
        .map(|(ev, nonce)| {
            let ev: &ValidEvent = ev.borrow();
            let nonce: [u8; 16] = nonce.try_into().expect("chunks_exact(16)");
            let sealed = event::seal(ev, &received_at, source, nonce)
                .map_err(|e| LedgerError::Invalid(format!("event {}: {e}", ev.event_id)))?;
            Ok(PreparedEvent {
                row: LeafRow {
                    leaf_index: 0,
                    event_id: ev.event_id.clone(),
                    content_hash: ev.content_hash,
                    session_id: ev.session_id.clone(),
                    agent_id: ev.agent_id.clone(),
                    kind: ev.kind.clone(),
                    ts: timefmt::sortable(&ev.ts),
                    received_at: received_at.clone(),
                    principal: ev.principal.clone(),
                    leaf: sealed.leaf,
                    body: Some(sealed.body),
                },
                leaf_hash: sealed.leaf_hash,
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
    Ok(Prepared { events })
}

/// The checks on an event's `source`: `api`, `otlp`, `cli`, or `import:<name>`.
pub fn check_source(source: &str) -> Result<(), LedgerError> {
    let ok = matches!(source, "api" | "otlp" | "cli")
        || source
            .strip_prefix("import:")
            .is_some_and(|n| !n.is_empty() && n.len() <= 200 && n.chars().all(|c| !c.is_control()));
    if ok {
        Ok(())
    } else {
        Err(LedgerError::Invalid(format!(
            "source {source:?} must be api, otlp, cli or import:<name>"
        )))
    }
}

/// The store must be of the format this build reads, and completely initialized.
fn check_format(backend: &mut dyn Backend) -> Result<(), LedgerError> {
    match backend.meta(meta::FORMAT)? {
        Some(f) if f == FORMAT_VERSION => Ok(()),
        Some(f) => Err(LedgerError::Invalid(format!(
            "this data directory has format {f}; this agentrail reads format {FORMAT_VERSION}"
        ))),
        None => Err(LedgerError::Invalid(
            "this data directory was never completely initialized; run `agentrail init` again"
                .into(),
        )),
    }
}

/// The log's signing key, read from `DIR/signing.key`, for signing what is not a checkpoint
/// (an evidence bundle's manifest). Reads only: no lock is taken.
pub fn signer(dir: &Path) -> Result<Signer, LedgerError> {
    load_signer(&DataDir::new(dir))
}

fn load_signer(dd: &DataDir) -> Result<Signer, LedgerError> {
    let text = fs::read_to_string(dd.key())
        .map_err(|e| LedgerError::io(format!("reading {}", dd.key().display()), e))?;
    Signer::from_skey(text.trim()).map_err(|e| LedgerError::Key(e.to_string()))
}

/// The per-log redaction secret (32 bytes), created (mode 0600) on first use. Whoever holds it
/// can test guesses against redacted values, so it is as private as the signing key.
pub fn redaction_key(dir: &Path) -> Result<Vec<u8>, LedgerError> {
    let dd = DataDir::new(dir);
    dd.require()?;
    let path = dd.redaction_key();
    match fs::read_to_string(&path) {
        Ok(text) => agentrail_core::hash::from_hex(text.trim())
            .filter(|k| k.len() == 32)
            .ok_or_else(|| LedgerError::Key(format!("{} must hold 64 hex digits", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = random_bytes::<32>()?;
            write_atomic(
                &path,
                format!("{}\n", agentrail_core::hash::to_hex(&key)).as_bytes(),
                0o600,
            )?;
            Ok(key.to_vec())
        }
        Err(e) => Err(LedgerError::io(format!("reading {}", path.display()), e)),
    }
}

/// Opens a data directory for reading only: no lock, no key.
pub fn open_read(dir: &Path) -> Result<Box<dyn Backend>, LedgerError> {
    let dd = DataDir::new(dir);
    dd.require()?;
    let mut backend: Box<dyn Backend> = Box::new(SqliteBackend::open(&dd.db(), false)?);
    check_format(backend.as_mut())?;
    Ok(backend)
}

/// Reads: events, checkpoints and proofs. Never writes.
pub struct ReadLedger<'a> {
    backend: &'a mut dyn Backend,
}

impl std::fmt::Debug for ReadLedger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadLedger")
    }
}

/// An event as stored: its leaf index, leaf bytes and body bytes.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub row: LeafRow,
}

impl StoredEvent {
    /// The stored event's canonical bytes (header + body), or `None` once the body is erased.
    pub fn event_bytes(&self) -> Option<Vec<u8>> {
        let body = self.row.body.as_ref()?;
        event::event_bytes(&self.row.leaf, body)
    }
}

impl<'a> ReadLedger<'a> {
    pub fn new(backend: &'a mut dyn Backend) -> Self {
        ReadLedger { backend }
    }

    /// The backend underneath, for reads this type has no method for.
    pub fn backend(&mut self) -> &mut dyn Backend {
        self.backend
    }

    pub fn meta(&mut self, key: &str) -> Result<Option<String>, LedgerError> {
        self.backend.meta(key)
    }

    /// The log's verifier key, as recorded at init.
    pub fn verifier(&mut self) -> Result<Verifier, LedgerError> {
        let vkey = self
            .backend
            .meta(meta::VKEY)?
            .ok_or_else(|| LedgerError::Corrupt("meta has no verifier key".into()))?;
        Verifier::from_vkey(&vkey).map_err(|e| LedgerError::Key(e.to_string()))
    }

    pub fn size(&mut self) -> Result<u64, LedgerError> {
        self.backend.leaf_count()
    }

    pub fn event(&mut self, id: &str) -> Result<StoredEvent, LedgerError> {
        self.backend
            .leaf_by_event_id(id)?
            .map(|row| StoredEvent { row })
            .ok_or_else(|| LedgerError::NotFound(format!("no event with id {id:?}")))
    }

    pub fn latest_checkpoint(&mut self) -> Result<Option<CheckpointRow>, LedgerError> {
        self.backend.latest_checkpoint()
    }

    /// A tlog-proof for the event at `leaf_index` against `checkpoint` (which must cover it).
    pub fn inclusion_proof(
        &mut self,
        leaf_index: u64,
        checkpoint: &CheckpointRow,
    ) -> Result<TlogProof, LedgerError> {
        if leaf_index >= checkpoint.size {
            return Err(LedgerError::Invalid(format!(
                "leaf {leaf_index} is not covered by checkpoint {}",
                checkpoint.size
            )));
        }
        let hashes = merkle::inclusion_proof(
            &mut TileReader::new(self.backend),
            leaf_index,
            checkpoint.size,
        )
        .map_err(prove_error)?;
        Ok(TlogProof {
            extra: None,
            index: leaf_index,
            hashes,
            checkpoint: checkpoint.note.clone(),
        })
    }

    /// The consistency proof between two checkpointed sizes.
    pub fn consistency_proof(&mut self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        // Size 0 needs no checkpoint: every tree is consistent with the empty one.
        for size in [old, new] {
            if size > 0 && self.backend.checkpoint_at(size)?.is_none() {
                return Err(LedgerError::Invalid(format!(
                    "no checkpoint of size {size}; proofs are between checkpointed sizes (see `agentrail checkpoint`)"
                )));
            }
        }
        if old > new {
            return Err(LedgerError::Invalid(format!(
                "old size {old} is larger than new size {new}"
            )));
        }
        merkle::consistency_proof(&mut TileReader::new(self.backend), old, new).map_err(prove_error)
    }
}

fn prove_error(e: merkle::ProveError<LedgerError>) -> LedgerError {
    match e {
        merkle::ProveError::Read(e) => e,
        merkle::ProveError::Invalid(e) => LedgerError::Invalid(e.to_string()),
    }
}
