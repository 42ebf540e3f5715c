//! Full verification of a store: re-read every leaf and body, re-canonicalize and re-hash them,
//! rebuild the tree, and compare with every stored tile, index column and signed checkpoint.
//!
//! Every disagreement becomes a [`Problem`] naming where (a leaf index, a checkpoint size, a
//! tile) and what is wrong, in the spirit of `aws cloudtrail validate-logs`. Leaves are read in
//! bounded chunks, each its own read transaction, so a live writer is never blocked for long.

use crate::backend::{meta, Backend, LeafRow};
use crate::tiles::{TILE_HEIGHT, TILE_WIDTH};
use crate::LedgerError;
use agentrail_core::checkpoint::open_checkpoint;
use agentrail_core::event::{self, LeafHeader};
use agentrail_core::merkle::{self, CompactRange};
use agentrail_core::note::Verifier;
use agentrail_core::{json, timefmt, Hash};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{mpsc, Mutex};

/// At most this many problems are kept (the count is always exact).
pub const MAX_PROBLEMS: usize = 10_000;

/// What `verify` checks against beyond the store itself.
#[derive(Debug, Default)]
pub struct VerifyOptions {
    /// The verifier key to check checkpoints with; by default the one recorded at init. An
    /// auditor passes the key they hold, so a store whose key was swapped fails.
    pub key: Option<Verifier>,
    /// Checkpoints kept elsewhere: (label for messages, signed note text).
    pub trusted: Vec<(String, String)>,
    /// Leaves per read transaction.
    pub chunk: usize,
}

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where: `leaf 12`, `checkpoint 100`, `tile 0/3`, `trusted FILE`, `store`.
    pub location: String,
    pub message: String,
}

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub leaves: u64,
    /// Bytes of leaf and body data re-hashed.
    pub bytes: u64,
    pub erased_bodies: u64,
    pub checkpoints: usize,
    pub tiles: u64,
    pub trusted: usize,
    pub root: Hash,
    pub latest_checkpoint: Option<u64>,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

impl VerifyReport {
    fn problem(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                location: location.into(),
                message: message.into(),
            });
        }
    }

    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    /// Leaves appended after the latest checkpoint: intact as far as the tree goes, but not yet
    /// covered by a signature.
    pub fn uncovered(&self) -> u64 {
        self.leaves - self.latest_checkpoint.unwrap_or(0).min(self.leaves)
    }
}

/// A root the tree must have at a size, and who says so.
struct Target {
    root: Hash,
    source: String,
}

/// Compares recomputed tile-level hashes with the stored tiles as the tree is rebuilt.
struct TileChecker {
    edge: Vec<(u64, Vec<u8>)>,
    expected_keys: BTreeSet<(u8, u64)>,
    /// Leaves whose recomputed hash differs from their stored tile hash, with the tile.
    leaf_mismatches: Vec<(u64, String)>,
    /// Set for the final edge tiles when the store grew during the run.
    edge_may_grow: bool,
}

impl TileChecker {
    fn add(
        &mut self,
        level: u8,
        index: u64,
        hash: &Hash,
        b: &mut dyn Backend,
        r: &mut VerifyReport,
    ) {
        if !level.is_multiple_of(TILE_HEIGHT) {
            return;
        }
        let tl = (level / TILE_HEIGHT) as usize;
        while self.edge.len() <= tl {
            self.edge.push((0, Vec::new()));
        }
        let tile_index = index / TILE_WIDTH;
        if self.edge[tl].0 != tile_index {
            let (idx, bytes) = std::mem::replace(&mut self.edge[tl], (tile_index, Vec::new()));
            self.compare(tl as u8, idx, &bytes, b, r);
        }
        self.edge[tl].1.extend_from_slice(&hash.0);
    }

    /// Compares the right-edge tiles; when the store `grew` during the run they may hold more
    /// hashes than the snapshot gives, and only the snapshot's part is compared.
    fn finish(&mut self, b: &mut dyn Backend, r: &mut VerifyReport, grew: bool) {
        self.edge_may_grow = grew;
        for (tl, (idx, bytes)) in std::mem::take(&mut self.edge).into_iter().enumerate() {
            if !bytes.is_empty() {
                self.compare(tl as u8, idx, &bytes, b, r);
            }
        }
    }

    fn compare(
        &mut self,
        tl: u8,
        idx: u64,
        want: &[u8],
        b: &mut dyn Backend,
        r: &mut VerifyReport,
    ) {
        self.expected_keys.insert((tl, idx));
        r.tiles += 1;
        let loc = format!("tile {tl}/{idx}");
        let stored = match b.tile(tl, idx) {
            Ok(Some(t)) => t,
            Ok(None) => return r.problem(loc, "missing: proofs through it cannot be served"),
            Err(e) => return r.problem(loc, format!("unreadable: {e}")),
        };
        let stored = if self.edge_may_grow && stored.len() > want.len() {
            stored[..want.len()].to_vec()
        } else {
            stored
        };
        if stored.len() != want.len() {
            return r.problem(
                loc,
                format!(
                    "holds {} hashes; the leaves give {}",
                    stored.len() / 32,
                    want.len() / 32
                ),
            );
        }
        for (k, (s, w)) in stored.chunks(32).zip(want.chunks(32)).enumerate() {
            if s != w {
                let node = idx * TILE_WIDTH + k as u64;
                if tl == 0 {
                    // Whether the event or the tile changed is decided at the end, once the
                    // signed roots are known.
                    self.leaf_mismatches.push((node, loc.clone()));
                } else {
                    r.problem(
                        loc.clone(),
                        format!(
                            "hash of node {}/{node} differs from the one recomputed from the leaves",
                            tl * TILE_HEIGHT
                        ),
                    );
                }
            }
        }
    }
}

/// Verifies the whole store.
pub fn verify(b: &mut dyn Backend, opts: &VerifyOptions) -> Result<VerifyReport, LedgerError> {
    let mut r = VerifyReport::default();
    // What is checked is the store as of this snapshot; a writer may keep appending meanwhile.
    let (end, counts, keys_at_start) = b.verify_snapshot()?;
    let origin = b.meta(meta::ORIGIN)?.unwrap_or_default();
    let verifier = match &opts.key {
        Some(k) => k.clone(),
        None => {
            let vkey = b
                .meta(meta::VKEY)?
                .ok_or_else(|| LedgerError::Corrupt("meta has no verifier key".into()))?;
            Verifier::from_vkey(&vkey).map_err(|e| LedgerError::Key(e.to_string()))?
        }
    };
    if verifier.name() != origin {
        r.problem(
            "store",
            format!(
                "the verifier key is for {:?} but the log's origin is {origin:?}",
                verifier.name()
            ),
        );
    }

    // What the roots must be: every stored checkpoint, and every trusted one.
    let mut targets: BTreeMap<u64, Vec<Target>> = BTreeMap::new();
    let checkpoints = b.checkpoints()?;
    r.checkpoints = checkpoints.len();
    // Only checkpoints whose signature verifies count as covering anything.
    r.latest_checkpoint = None;
    for row in &checkpoints {
        let loc = format!("checkpoint {}", row.size);
        match open_checkpoint(&row.note, &verifier) {
            Ok(cp) => {
                if cp.size != row.size || cp.root != row.root {
                    r.problem(
                        &loc,
                        format!(
                            "the signed note says size {} root {}, the index says size {} root {}",
                            cp.size, cp.root, row.size, row.root
                        ),
                    );
                }
                r.latest_checkpoint = r.latest_checkpoint.max(Some(cp.size));
                targets.entry(cp.size).or_default().push(Target {
                    root: cp.root,
                    source: loc,
                });
            }
            Err(e) => r.problem(
                &loc,
                format!("signature does not verify with {}: {e}", verifier.to_vkey()),
            ),
        }
    }
    for (label, text) in &opts.trusted {
        r.trusted += 1;
        let loc = format!("trusted {label}");
        match open_checkpoint(text, &verifier) {
            Ok(cp) => targets.entry(cp.size).or_default().push(Target {
                root: cp.root,
                source: loc,
            }),
            Err(e) => r.problem(loc, format!("does not verify with this log's key: {e}")),
        }
    }
    if let Some(cp) = targets.get(&0) {
        for t in cp {
            if t.root != merkle::empty_root() {
                r.problem(&t.source, "size 0 with a root other than the empty root");
            }
        }
    }

    let chunk = opts.chunk.max(1);
    let mut frontier = CompactRange::new();
    let mut tiles = TileChecker {
        edge: Vec::new(),
        expected_keys: BTreeSet::new(),
        leaf_mismatches: Vec::new(),
        edge_may_grow: false,
    };
    // Signed sizes whose root the stored leaves reproduce, and those they do not.
    let mut roots_ok: BTreeSet<u64> = BTreeSet::new();
    let mut prev_index: Option<u64> = None;
    // The ledger's records of API keys, to hold the key table to them.
    let mut key_records: Vec<LeafRow> = Vec::new();
    // As many workers as cores: this thread mostly waits on reads and hashes one leaf a row.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (chunk_tx, chunk_rx) = mpsc::sync_channel::<(usize, Vec<LeafRow>)>(workers + 1);
    let chunk_rx = Mutex::new(chunk_rx);
    let (result_tx, result_rx) = mpsc::channel::<(usize, RowChecks)>();
    let row_checks = std::thread::scope(
        |scope| -> Result<BTreeMap<usize, RowChecks>, LedgerError> {
            // Workers check each row's contents (JSON, canonical form, body hash, index columns,
            // idempotency record); this thread reads and rebuilds the tree, which must go in order.
            for _ in 0..workers {
                let (rx, tx) = (&chunk_rx, result_tx.clone());
                scope.spawn(move || loop {
                    let next = rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, rows))) = next else { break };
                    if tx.send((seq, check_rows(&rows))).is_err() {
                        break;
                    }
                });
            }
            drop(result_tx);
            let mut next: u64 = 0;
            let mut seq = 0usize;
            while next < end {
                let rows = b.leaves(next, chunk.min((end - next) as usize))?;
                let Some(last) = rows.last() else { break };
                next = last.leaf_index + 1;
                for row in &rows {
                    if row.kind == "agentrail.apikey" {
                        key_records.push(row.clone());
                    }
                    let expected = prev_index.map_or(0, |p| p + 1);
                    if row.leaf_index != expected {
                        r.problem(
                            format!("leaf {expected}"),
                            format!(
                                "missing: the next stored leaf is {} ({} leaves deleted)",
                                row.leaf_index,
                                row.leaf_index.saturating_sub(expected)
                            ),
                        );
                    }
                    prev_index = Some(row.leaf_index);
                    r.bytes +=
                        row.leaf.len() as u64 + row.body.as_ref().map_or(0, |b| b.len() as u64);
                    let leaf_hash = merkle::leaf_hash(&row.leaf);
                    frontier.push(leaf_hash, |level, index, hash| {
                        tiles.add(level, index, hash, b, &mut r)
                    });
                    r.leaves += 1;
                    if let Some(ts) = targets.get(&frontier.size()) {
                        let root = frontier.root();
                        let mut all_ok = true;
                        for t in ts {
                            if t.root != root {
                                all_ok = false;
                                r.problem(
                                &t.source,
                                format!(
                                    "signed root {} but the stored leaves give {root}: leaves before index {} were edited, removed, inserted or reordered",
                                    t.root,
                                    frontier.size()
                                ),
                            );
                            }
                        }
                        if all_ok {
                            roots_ok.insert(frontier.size());
                        }
                    }
                }
                if chunk_tx.send((seq, rows)).is_err() {
                    break;
                }
                seq += 1;
            }
            drop(chunk_tx);
            Ok(result_rx.iter().collect())
        },
    )?;
    // Row problems first, in leaf order, then what the tree and checkpoints say.
    let tree_problems = std::mem::take(&mut r.problems);
    let tree_count = std::mem::replace(&mut r.problem_count, 0);
    for (_, checks) in row_checks {
        r.erased_bodies += checks.erased;
        for p in checks.problems {
            r.problem(p.location, p.message);
        }
    }
    r.problem_count += tree_count;
    for p in tree_problems {
        if r.problems.len() < MAX_PROBLEMS {
            r.problems.push(p);
        }
    }
    // Leaves appended while this ran are not checked; what they changed (edge tiles, new tiles,
    // newer checkpoints) is not held against the snapshot.
    let now = b.leaf_count()?;
    let grew = now > end;
    tiles.finish(b, &mut r, grew);
    check_api_keys(&keys_at_start, &key_records, &mut r);
    // Rows the walk from index 0 cannot see: a planted event id could make a real event look
    // like a duplicate of something outside the tree.
    if counts.negative_indexes > 0 {
        r.problem(
            "store",
            format!(
                "{} leaf rows have negative indexes: they are outside the tree and were put there behind the ledger's back",
                counts.negative_indexes
            ),
        );
    }
    if counts.leaf_rows != end {
        r.problem(
            "store",
            format!(
                "{} leaf rows are stored but {end} are in the tree",
                counts.leaf_rows
            ),
        );
    }
    if counts.orphan_bodies > 0 {
        r.problem(
            "store",
            format!("{} body rows belong to no leaf", counts.orphan_bodies),
        );
    }
    for (leaf, tile) in std::mem::take(&mut tiles.leaf_mismatches) {
        // The first signed size covering the leaf decides: if the stored leaves reproduce its
        // root, the event is as signed and the tile was altered; otherwise the event was.
        let covering = targets.range(leaf + 1..).next().map(|(size, _)| *size);
        if covering.is_some_and(|size| roots_ok.contains(&size)) {
            r.problem(
                tile,
                format!("stored hash of leaf {leaf} differs from the leaf, which matches its signed checkpoint: the tile was altered"),
            );
        } else {
            r.problem(
                format!("leaf {leaf}"),
                format!("its hash differs from the one in the Merkle tree ({tile}): the event was edited, replaced or moved after it was appended"),
            );
        }
    }
    for key in b.tile_keys()? {
        // A tile whose first leaf lies beyond the snapshot was written after it.
        let first_leaf = key.1.checked_shl(TILE_HEIGHT as u32 * (key.0 as u32 + 1));
        if grew && first_leaf.is_none_or(|f| f >= end) {
            continue;
        }
        if !tiles.expected_keys.contains(&key) {
            r.problem(
                format!("tile {}/{}", key.0, key.1),
                "stored, but not part of the tree the leaves give",
            );
        }
    }
    // Checkpoints of sizes the store reached after the snapshot are not checked this run.
    for (size, ts) in targets.range(frontier.size() + 1..) {
        if *size > end && *size <= now {
            continue;
        }
        for t in ts {
            r.problem(
                &t.source,
                format!(
                    "covers {size} leaves but the store holds {}: leaves were removed (or this store is behind)",
                    frontier.size()
                ),
            );
        }
    }
    r.root = frontier.root();
    Ok(r)
}

/// What the content checks found in one chunk of rows.
#[derive(Default)]
struct RowChecks {
    problems: Vec<Problem>,
    erased: u64,
}

impl RowChecks {
    fn problem(&mut self, location: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            location: location.to_string(),
            message: message.into(),
        });
    }
}

fn check_rows(rows: &[LeafRow]) -> RowChecks {
    let mut r = RowChecks::default();
    for row in rows {
        let loc = format!("leaf {}", row.leaf_index);
        match event::parse_leaf(&row.leaf) {
            Ok(h) => check_row(&mut r, &loc, &h, row),
            Err(e) => r.problem(&loc, format!("leaf bytes are invalid: {e}")),
        }
    }
    r
}

fn check_row(r: &mut RowChecks, loc: &str, h: &LeafHeader, row: &LeafRow) {
    let cols: [(&str, Option<&str>, Option<&str>); 7] = [
        ("event_id", Some(&row.event_id), Some(&h.event_id)),
        ("session_id", Some(&row.session_id), Some(&h.session_id)),
        ("agent_id", Some(&row.agent_id), Some(&h.agent_id)),
        ("kind", Some(&row.kind), Some(&h.kind)),
        ("ts", Some(&row.ts), Some(&timefmt::sortable(&h.ts))),
        ("received_at", Some(&row.received_at), Some(&h.received_at)),
        (
            "principal",
            row.principal.as_deref(),
            h.principal.as_deref(),
        ),
    ];
    for (name, col, leaf) in cols {
        if col != leaf {
            r.problem(
                loc,
                format!("index column {name} is {col:?} but the leaf says {leaf:?}"),
            );
        }
    }
    let Some(body) = &row.body else {
        if row.kind.starts_with(event::INTERNAL_PREFIX) {
            // agentrail's own records hold no personal data and are never erased; one without its
            // body could hide, say, a key's revocation.
            r.problem(
                loc,
                "the body of an agentrail.* record is missing: these are never erased",
            );
        } else {
            r.erased += 1;
        }
        return;
    };
    let got = Hash::sha256(body);
    if got != h.body_sha256 {
        r.problem(
            loc,
            format!(
                "body hashes to {got}, but the leaf commits to {}: the body was edited",
                h.body_sha256
            ),
        );
        return;
    }
    // The body is parsed once: for its canonical form and for the idempotency record.
    let value = match json::parse_strict(body) {
        Ok(v) => v,
        Err(e) => return r.problem(loc, format!("body is not valid JSON: {e}")),
    };
    match json::canonicalize(&value) {
        Ok(c) if &c == body => {}
        Ok(_) => r.problem(loc, "body is not in RFC 8785 canonical form"),
        Err(e) => r.problem(loc, format!("body cannot be canonicalized: {e}")),
    }
    match event::content_hash_of_stored_value(h, value) {
        Ok(c) if c == row.content_hash => {}
        Ok(c) => r.problem(
            loc,
            format!(
                "idempotency record {} does not match the content {c}",
                row.content_hash
            ),
        ),
        Err(e) => r.problem(loc, format!("content cannot be recomputed: {e}")),
    }
}

/// Every API key row must be backed by its `agentrail.apikey` records: a `create` with the same
/// role and agent, and a `revoke` exactly when the row is revoked. A key added or reactivated
/// behind the ledger's back would otherwise grant access that the log never recorded.
fn check_api_keys(keys: &[crate::backend::ApiKeyRow], records: &[LeafRow], r: &mut VerifyReport) {
    use std::collections::BTreeMap;
    let mut created: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut revoked: BTreeSet<String> = BTreeSet::new();
    for row in records {
        let Some(body) = &row.body else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
            continue; // reported by the row checks
        };
        let rec = &v["apikey"];
        let Some(id) = rec["id"].as_str() else {
            continue;
        };
        match rec["op"].as_str() {
            Some("create") => {
                created.insert(id.to_string(), rec.clone());
            }
            Some("revoke") => {
                revoked.insert(id.to_string());
            }
            _ => {}
        }
    }
    for key in keys {
        let loc = format!("api key {}", key.id);
        match created.get(&key.id) {
            None => r.problem(
                &loc,
                "in the key table, but the ledger has no record of its creation: it was added behind the ledger's back",
            ),
            Some(rec) => {
                if rec["role"] != key.role.as_str() || rec["agent"].as_str() != key.agent.as_deref() {
                    r.problem(
                        &loc,
                        format!(
                            "the key table says role {} agent {:?}, but its creation record says role {} agent {}",
                            key.role, key.agent, rec["role"], rec["agent"]
                        ),
                    );
                }
            }
        }
        match (key.revoked_at.is_some(), revoked.contains(&key.id)) {
            (false, true) => r.problem(
                &loc,
                "the ledger records its revocation, but the key table has it active: it was reactivated behind the ledger's back",
            ),
            (true, false) => r.problem(
                &loc,
                "revoked in the key table without a revocation record in the ledger",
            ),
            _ => {}
        }
    }
}
