//! Tampering with a real store behind the ledger's back, one way per test: `verify` must notice
//! each, name the place it happened (`leaf 42`, `checkpoint 300`, `tile 0/1`) and say what kind
//! of change it was.
//!
//! Every test builds its own store with the real ledger (600 events over several sessions,
//! agents, kinds and sources; checkpoints signed at 100, 300 and 600 leaves, so three level-0
//! tiles, the last partial, and one level-1 tile), drops the ledger, edits `ledger.sqlite`
//! through a raw connection, and verifies in chunks of 100 leaves.

use agentrail_core::checkpoint::{open_checkpoint, sign_checkpoint, Checkpoint};
use agentrail_core::event::{self, parse_client_event, ValidEvent};
use agentrail_core::merkle::CompactRange;
use agentrail_core::note::Signer;
use agentrail_core::Hash;
use agentrail_store::backend::{Backend, CheckpointRow};
use agentrail_store::clock::{Clock, ManualClock};
use agentrail_store::ledger::open_read;
use agentrail_store::tiles::TileWriter;
use agentrail_store::verify::{verify, VerifyOptions, VerifyReport};
use agentrail_store::{AppendOutcome, InitOptions, Ledger};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tempfile::TempDir;

const ORIGIN: &str = "tamper.example/agentrail/test";
const LEAVES: u64 = 600;
const BATCH: u64 = 50;
const CHECKPOINT_SIZES: [u64; 3] = [100, 300, 600];
/// Batch `k` is appended with `SOURCES[k % 4]`; leaves 0..50 come from "api".
const SOURCES: [&str; 4] = ["api", "cli", "otlp", "import:backfill"];

// ---- the store ----

/// Client event number `i`: several sessions, agents and kinds; a principal on three events in
/// four (so leaf 0, 4, 8, ... have none); `attributes.seq` is `i`.
fn event_json(i: u64) -> Value {
    let agent = ["planner", "coder", "reviewer"][(i % 3) as usize];
    let mut ev = json!({
        "event_id": format!("ev-{i:04}"),
        "session_id": format!("sess-{}", i % 7),
        "agent_id": agent,
        "ts": format!("2026-03-01T10:{:02}:{:02}.{:03}+01:00", (i / 60) % 60, i % 60, i % 1000),
        "attributes": {"seq": i},
    });
    let obj = ev.as_object_mut().expect("an object");
    if !i.is_multiple_of(4) {
        obj.insert("principal".into(), format!("svc-{}", i % 5).into());
    }
    if i.is_multiple_of(5) {
        obj.insert("trace_id".into(), format!("{:032x}", i + 1).into());
    }
    let (kind, body) = match i % 6 {
        0 => ("note", json!({"note": {"text": format!("note {i}")}})),
        1 => (
            "action",
            json!({"action": {"type": "read", "system": "crm", "resource": format!("accounts/{i}"), "status": "ok"}}),
        ),
        2 => (
            "decision",
            json!({"decision": {"name": "next step", "chosen": [format!("option {i}")]}}),
        ),
        3 => (
            "diff",
            json!({"diff": {"resource": format!("doc/{i}"), "op": "update", "before": {"v": i}, "after": {"v": i + 1}}}),
        ),
        4 => (
            "session.start",
            json!({"trigger": {"type": "user", "initiator": "alice@example.test"}}),
        ),
        _ => ("session.end", json!({"outcome": {"status": "succeeded"}})),
    };
    obj.insert("kind".into(), kind.into());
    for (k, v) in body.as_object().expect("an object") {
        obj.insert(k.clone(), v.clone());
    }
    ev
}

fn client_event(v: &Value) -> ValidEvent {
    parse_client_event(&serde_json::to_vec(v).unwrap()).expect("a valid client event")
}

/// A data directory written by the real ledger, closed.
struct Store {
    _tmp: TempDir,
    dir: PathBuf,
    root: Hash,
}

impl Store {
    fn build() -> Store {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let clock = Arc::new(ManualClock::new(1_772_355_600_000));
        let opts = InitOptions {
            origin: Some(ORIGIN.into()),
            publish: None,
        };
        Ledger::init(&dir, &opts, clock.as_ref()).unwrap();
        let mut ledger =
            Ledger::open(&dir, "tamper test", clock.clone() as Arc<dyn Clock>).unwrap();
        for start in (0..LEAVES).step_by(BATCH as usize) {
            let events: Vec<ValidEvent> = (start..start + BATCH)
                .map(|i| client_event(&event_json(i)))
                .collect();
            let source = SOURCES[(start / BATCH) as usize % SOURCES.len()];
            let out = ledger.append(&events, source).unwrap();
            let want: Vec<AppendOutcome> = (start..start + BATCH)
                .map(|leaf_index| AppendOutcome::Appended { leaf_index })
                .collect();
            assert_eq!(out, want);
            clock.advance_millis(250);
            if CHECKPOINT_SIZES.contains(&(start + BATCH)) {
                assert_eq!(ledger.checkpoint_now().unwrap().size, start + BATCH);
            }
        }
        let root = ledger.root();
        drop(ledger);
        Store {
            _tmp: tmp,
            dir,
            root,
        }
    }

    /// A raw connection to the database, for tampering.
    /// A raw connection, as a forger with the file would have: the schema's CHECK
    /// constraints are switched off, as anyone holding the file can.
    fn db(&self) -> Connection {
        let db = Connection::open(self.dir.join("ledger.sqlite")).unwrap();
        db.execute_batch("PRAGMA ignore_check_constraints = ON;")
            .unwrap();
        db
    }

    fn backend(&self) -> Box<dyn Backend> {
        open_read(&self.dir).unwrap()
    }

    fn verify_with(&self, mut opts: VerifyOptions) -> VerifyReport {
        opts.chunk = 100;
        verify(self.backend().as_mut(), &opts).unwrap()
    }

    fn verify(&self) -> VerifyReport {
        self.verify_with(VerifyOptions::default())
    }

    fn checkpoint(&self, size: u64) -> CheckpointRow {
        self.backend().checkpoint_at(size).unwrap().unwrap()
    }

    fn signer(&self) -> Signer {
        let skey = std::fs::read_to_string(self.dir.join("signing.key")).unwrap();
        Signer::from_skey(skey.trim()).unwrap()
    }
}

// ---- tampering helpers ----

fn leaf_bytes(db: &Connection, index: u64) -> Vec<u8> {
    db.query_row(
        "SELECT leaf FROM leaves WHERE leaf_index = ?1",
        [index as i64],
        |r| r.get(0),
    )
    .unwrap()
}

fn body_bytes(db: &Connection, index: u64) -> Vec<u8> {
    db.query_row(
        "SELECT body FROM bodies WHERE leaf_index = ?1",
        [index as i64],
        |r| r.get(0),
    )
    .unwrap()
}

/// `bytes` with the one occurrence of `from` replaced by `to`.
fn replace_once(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert_eq!(text.matches(from).count(), 1, "{from:?} in {text}");
    text.replacen(from, to, 1).into_bytes()
}

/// Moves every leaf and body row at or above `from` by `by` (may be negative), without ever
/// colliding with another row's primary key.
fn shift(db: &Connection, from: u64, by: i64) {
    for table in ["leaves", "bodies"] {
        db.execute(
            &format!("UPDATE {table} SET leaf_index = -leaf_index - 1 WHERE leaf_index >= ?1"),
            [from as i64],
        )
        .unwrap();
        db.execute(
            &format!("UPDATE {table} SET leaf_index = -leaf_index - 1 + ?1 WHERE leaf_index < 0"),
            [by],
        )
        .unwrap();
    }
}

/// A forged but well-formed event, sealed as the ledger would, stored at `index`.
fn insert_forged(db: &Connection, index: u64) {
    let ev = client_event(&json!({
        "event_id": "forged-1",
        "session_id": "sess-1",
        "agent_id": "coder",
        "principal": "svc-1",
        "kind": "note",
        "ts": "2026-03-01T09:05:00Z",
        "note": {"text": "nothing happened here"},
    }));
    let received_at: String = db
        .query_row(
            "SELECT received_at FROM leaves ORDER BY leaf_index LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let sealed = event::seal(&ev, &received_at, "api", [7; 16]).unwrap();
    db.execute(
        "INSERT INTO leaves (leaf_index, event_id, content_hash, session_id, agent_id, kind, ts, \
         received_at, principal, leaf) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            index as i64,
            ev.event_id,
            &ev.content_hash.0[..],
            ev.session_id,
            ev.agent_id,
            ev.kind,
            agentrail_core::timefmt::sortable(&ev.ts),
            received_at,
            ev.principal,
            sealed.leaf
        ],
    )
    .unwrap();
    db.execute(
        "INSERT INTO bodies (leaf_index, body) VALUES (?1, ?2)",
        params![index as i64, sealed.body],
    )
    .unwrap();
}

/// Replaces every tile by the tiles of the leaves as they now are: what a careful attacker who
/// rewrote history would do.
fn rewrite_tiles(db: &Connection) {
    let mut tree = CompactRange::new();
    let mut tiles = TileWriter::default();
    {
        let mut stmt = db
            .prepare("SELECT leaf FROM leaves ORDER BY leaf_index")
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let leaf: Vec<u8> = row.get(0).unwrap();
            tree.push(agentrail_core::merkle::leaf_hash(&leaf), |l, i, h| {
                tiles.add(l, i, h)
            });
        }
    }
    db.execute("DELETE FROM tiles", []).unwrap();
    for t in tiles.take_dirty() {
        db.execute(
            "INSERT INTO tiles (level, idx, hashes) VALUES (?1, ?2, ?3)",
            params![t.level, t.index as i64, t.hashes],
        )
        .unwrap();
    }
}

// ---- assertions ----

fn listing(r: &VerifyReport) -> String {
    let mut out = format!("{} problems:\n", r.problem_count);
    for p in r.problems.iter().take(40) {
        out.push_str(&format!("  {}: {}\n", p.location, p.message));
    }
    out
}

/// The report is not ok, and for each `(location, fragment)` some problem is at exactly that
/// location with a message containing the fragment.
#[track_caller]
fn assert_problems(r: &VerifyReport, expected: &[(&str, &str)]) {
    assert!(!r.ok(), "tampering went unnoticed");
    for (location, fragment) in expected {
        assert!(
            r.problems
                .iter()
                .any(|p| p.location == *location && p.message.contains(fragment)),
            "no problem at {location:?} saying {fragment:?}; {}",
            listing(r)
        );
    }
}

/// Every problem is at one of `locations`: nothing intact is accused.
#[track_caller]
fn assert_only_at(r: &VerifyReport, locations: &[&str]) {
    assert_eq!(r.problem_count as usize, r.problems.len());
    for p in &r.problems {
        assert!(
            locations.contains(&p.location.as_str()),
            "unexpected problem at {:?}; {}",
            p.location,
            listing(r)
        );
    }
}

const SIGNED_ROOT_DIFFERS: &str = "but the stored leaves give";
const LEAF_HASH_DIFFERS: &str = "its hash differs from the one in the Merkle tree (tile 0/";

// ---- the untampered store ----

#[test]
fn untampered_store_verifies() {
    let s = Store::build();
    let r = s.verify();
    assert!(r.ok(), "{}", listing(&r));
    assert_eq!(r.problem_count, 0);
    assert_eq!(r.leaves, LEAVES);
    assert_eq!(r.checkpoints, 3);
    assert_eq!(r.latest_checkpoint, Some(600));
    assert_eq!(r.uncovered(), 0);
    assert_eq!(r.erased_bodies, 0);
    assert_eq!(r.tiles, 4, "tiles 0/0, 0/1, 0/2 and 1/0");
    assert_eq!(r.root, s.root);
    assert!(r.bytes > 600 * 200, "every leaf and body was re-hashed");
}

// ---- leaves and bodies ----

#[test]
fn edited_leaf_byte() {
    let s = Store::build();
    let db = s.db();
    // One byte of a header value that no index column copies: only the hash can tell.
    let leaf = replace_once(
        &leaf_bytes(&db, 42),
        "\"source\":\"api\"",
        "\"source\":\"apx\"",
    );
    db.execute("UPDATE leaves SET leaf = ?1 WHERE leaf_index = 42", [leaf])
        .unwrap();
    let r = s.verify();
    assert_problems(
        &r,
        &[
            ("leaf 42", LEAF_HASH_DIFFERS),
            ("leaf 42", "the event was edited"),
            ("checkpoint 100", SIGNED_ROOT_DIFFERS),
            ("checkpoint 300", SIGNED_ROOT_DIFFERS),
            ("checkpoint 600", SIGNED_ROOT_DIFFERS),
        ],
    );
    // Tile 1/0 holds node 8/0, over leaves 0..256, which the edit changes too.
    assert_only_at(
        &r,
        &[
            "leaf 42",
            "tile 1/0",
            "checkpoint 100",
            "checkpoint 300",
            "checkpoint 600",
        ],
    );
}

#[test]
fn edited_body() {
    let s = Store::build();
    let db = s.db();
    let body = replace_once(&body_bytes(&db, 42), "\"seq\":42}", "\"seq\":43}");
    db.execute("UPDATE bodies SET body = ?1 WHERE leaf_index = 42", [body])
        .unwrap();
    let r = s.verify();
    assert_problems(&r, &[("leaf 42", "the body was edited")]);
    assert_only_at(&r, &["leaf 42"]);
}

#[test]
fn deleted_middle_leaf() {
    let s = Store::build();
    s.db()
        .execute("DELETE FROM leaves WHERE leaf_index = 150", [])
        .unwrap();
    let r = s.verify();
    assert_problems(
        &r,
        &[
            (
                "leaf 150",
                "missing: the next stored leaf is 151 (1 leaves deleted)",
            ),
            ("leaf 150", LEAF_HASH_DIFFERS),
            ("checkpoint 300", SIGNED_ROOT_DIFFERS),
            (
                "checkpoint 600",
                "covers 600 leaves but the store holds 599",
            ),
        ],
    );
    assert!(
        !r.problems.iter().any(|p| p.location == "checkpoint 100"),
        "checkpoint 100 precedes the deletion; {}",
        listing(&r)
    );
}

/// One deleted leaf is one missing leaf: the leaves after it are present, and must not each be
/// reported missing too.
#[test]
fn deleted_middle_leaf_is_reported_missing_once() {
    let s = Store::build();
    s.db()
        .execute("DELETE FROM leaves WHERE leaf_index = 150", [])
        .unwrap();
    let r = s.verify();
    let missing: Vec<&str> = r
        .problems
        .iter()
        .filter(|p| p.message.starts_with("missing"))
        .map(|p| p.location.as_str())
        .collect();
    assert_eq!(missing, vec!["leaf 150"], "{}", listing(&r));
}

#[test]
fn deleted_last_leaves() {
    let s = Store::build();
    let db = s.db();
    for table in ["leaves", "bodies"] {
        db.execute(&format!("DELETE FROM {table} WHERE leaf_index >= 590"), [])
            .unwrap();
    }
    let r = s.verify();
    assert_problems(
        &r,
        &[
            (
                "checkpoint 600",
                "covers 600 leaves but the store holds 590",
            ),
            ("tile 0/2", "holds 88 hashes; the leaves give 78"),
        ],
    );
    assert_only_at(&r, &["checkpoint 600", "tile 0/2"]);
    assert_eq!(r.leaves, 590);
}

#[test]
fn swapped_leaves() {
    let s = Store::build();
    let db = s.db();
    // Whole rows (leaf, body and index columns) trade places: each row is self-consistent.
    for table in ["leaves", "bodies"] {
        for (from, to) in [(10, -1), (20, 10), (-1, 20)] {
            db.execute(
                &format!("UPDATE {table} SET leaf_index = ?2 WHERE leaf_index = ?1"),
                [from, to],
            )
            .unwrap();
        }
    }
    let r = s.verify();
    assert_problems(
        &r,
        &[
            ("leaf 10", "moved"),
            ("leaf 20", "moved"),
            ("checkpoint 100", "reordered"),
            ("checkpoint 300", SIGNED_ROOT_DIFFERS),
            ("checkpoint 600", SIGNED_ROOT_DIFFERS),
        ],
    );
    assert_only_at(
        &r,
        &[
            "leaf 10",
            "leaf 20",
            "tile 1/0",
            "checkpoint 100",
            "checkpoint 300",
            "checkpoint 600",
        ],
    );
}

#[test]
fn forged_event_inserted_in_the_middle() {
    let s = Store::build();
    let db = s.db();
    shift(&db, 200, 1);
    insert_forged(&db, 200);
    let r = s.verify();
    assert_eq!(r.leaves, 601);
    assert_problems(
        &r,
        &[
            ("leaf 200", LEAF_HASH_DIFFERS),
            ("checkpoint 300", "inserted"),
            ("checkpoint 600", SIGNED_ROOT_DIFFERS),
            ("tile 0/2", "holds 88 hashes; the leaves give 89"),
        ],
    );
    assert!(
        !r.problems
            .iter()
            .any(|p| p.location == "checkpoint 100" || p.location == "leaf 199"),
        "nothing before the insertion is accused; {}",
        listing(&r)
    );
}

#[test]
fn forged_event_appended_without_tiles() {
    let s = Store::build();
    insert_forged(&s.db(), 600);
    let r = s.verify();
    assert_eq!(r.leaves, 601);
    assert_eq!(r.uncovered(), 1);
    assert_problems(&r, &[("tile 0/2", "holds 88 hashes; the leaves give 89")]);
    assert_only_at(&r, &["tile 0/2"]);
}

#[test]
fn edited_index_columns() {
    let s = Store::build();
    let db = s.db();
    // One column per leaf; leaf bytes, bodies and tree are untouched, so only the column is
    // wrong. Leaves 13 and 17 have a principal; leaf 16 (a multiple of 4) has none.
    let edits: [(&str, u64, Option<&str>); 9] = [
        ("session_id", 7, Some("sess-other")),
        ("agent_id", 8, Some("intruder")),
        ("ts", 9, Some("2026-03-01T08:00:00Z")),
        ("principal", 13, Some("svc-admin")),
        ("principal", 17, None),
        ("principal", 16, Some("svc-added")),
        ("kind", 19, Some("note")),
        ("received_at", 21, Some("2020-01-01T00:00:00Z")),
        ("event_id", 23, Some("ev-renamed")),
    ];
    for (column, index, value) in edits {
        db.execute(
            &format!("UPDATE leaves SET {column} = ?1 WHERE leaf_index = ?2"),
            params![value, index as i64],
        )
        .unwrap();
    }
    let r = s.verify();
    let mut locations = Vec::new();
    for (column, index, value) in edits {
        let location = format!("leaf {index}");
        let said = format!("index column {column} is {value:?} but the leaf says ");
        assert_problems(&r, &[(&location, &said)]);
        locations.push(location);
    }
    let locations: Vec<&str> = locations.iter().map(String::as_str).collect();
    assert_only_at(&r, &locations);
    assert_eq!(r.problem_count, edits.len() as u64);
}

#[test]
fn edited_idempotency_record() {
    let s = Store::build();
    s.db()
        .execute(
            "UPDATE leaves SET content_hash = ?1 WHERE leaf_index = 31",
            [&Hash::sha256(b"other content").0[..]],
        )
        .unwrap();
    let r = s.verify();
    assert_problems(&r, &[("leaf 31", "idempotency record")]);
    assert_only_at(&r, &["leaf 31"]);
}

#[test]
fn erased_body_is_counted_not_reported() {
    let s = Store::build();
    s.db()
        .execute("DELETE FROM bodies WHERE leaf_index IN (5, 333)", [])
        .unwrap();
    let r = s.verify();
    assert!(r.ok(), "{}", listing(&r));
    assert_eq!(r.erased_bodies, 2);
    assert_eq!(r.leaves, LEAVES);
}

// ---- tiles ----

#[test]
fn edited_level1_tile_hash() {
    let s = Store::build();
    let db = s.db();
    let mut hashes: Vec<u8> = db
        .query_row(
            "SELECT hashes FROM tiles WHERE level = 1 AND idx = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hashes.len(), 2 * 32);
    hashes[32 + 5] ^= 0x01;
    db.execute(
        "UPDATE tiles SET hashes = ?1 WHERE level = 1 AND idx = 0",
        [hashes],
    )
    .unwrap();
    let r = s.verify();
    assert_problems(&r, &[("tile 1/0", "hash of node 8/1 differs")]);
    assert_only_at(&r, &["tile 1/0"]);
}

/// Flips one byte of the stored hash of leaf 300 in tile 0/1.
fn edit_level0_tile(s: &Store) {
    let db = s.db();
    let mut hashes: Vec<u8> = db
        .query_row(
            "SELECT hashes FROM tiles WHERE level = 0 AND idx = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hashes.len(), 256 * 32);
    hashes[44 * 32] ^= 0x80;
    db.execute(
        "UPDATE tiles SET hashes = ?1 WHERE level = 0 AND idx = 1",
        [hashes],
    )
    .unwrap();
}

#[test]
fn edited_level0_tile_hash_is_detected() {
    let s = Store::build();
    edit_level0_tile(&s);
    let r = s.verify();
    assert!(!r.ok());
    assert_eq!(r.problem_count, 1, "{}", listing(&r));
    let p = &r.problems[0];
    assert!(
        p.location.contains("tile 0/1") || p.message.contains("tile 0/1"),
        "{}",
        listing(&r)
    );
}

/// Leaf 300 is intact: checkpoint 600, which covers it, matches the leaves. The tile is what was
/// edited, and the report must say so rather than accuse the event.
#[test]
fn edited_level0_tile_hash_is_blamed_on_the_tile() {
    let s = Store::build();
    edit_level0_tile(&s);
    let r = s.verify();
    assert_problems(&r, &[("tile 0/1", "300")]);
    assert!(
        !r.problems
            .iter()
            .any(|p| p.message.contains("the event was edited")),
        "an intact event is accused; {}",
        listing(&r)
    );
}

#[test]
fn deleted_tiles() {
    for (level, index) in [(0, 0), (0, 2), (1, 0)] {
        let s = Store::build();
        s.db()
            .execute(
                "DELETE FROM tiles WHERE level = ?1 AND idx = ?2",
                [level, index],
            )
            .unwrap();
        let r = s.verify();
        let location = format!("tile {level}/{index}");
        assert_problems(&r, &[(&location, "missing")]);
        assert_only_at(&r, &[&location]);
    }
}

#[test]
fn extra_tile() {
    let s = Store::build();
    s.db()
        .execute(
            "INSERT INTO tiles (level, idx, hashes) VALUES (0, 7, ?1)",
            [vec![1u8; 32]],
        )
        .unwrap();
    let r = s.verify();
    assert_problems(&r, &[("tile 0/7", "not part of the tree")]);
    assert_only_at(&r, &["tile 0/7"]);
}

// ---- checkpoints ----

#[test]
fn forged_checkpoint_note() {
    let s = Store::build();
    let cp = s.checkpoint(300);
    let real = format!("\n{}\n", cp.root.to_base64());
    let forged = format!("\n{}\n", Hash::sha256(b"forged root").to_base64());
    let note = String::from_utf8(replace_once(cp.note.as_bytes(), &real, &forged)).unwrap();
    s.db()
        .execute("UPDATE checkpoints SET note = ?1 WHERE size = 300", [note])
        .unwrap();
    let r = s.verify();
    assert_problems(&r, &[("checkpoint 300", "signature does not verify")]);
    assert_only_at(&r, &["checkpoint 300"]);
}

#[test]
fn checkpoint_resigned_with_another_key() {
    // Same origin (key name), another key: both the honest root and a forged one (with the root
    // column updated to match) are refused.
    let forged_root = Hash::sha256(b"forged root");
    for forge_root in [false, true] {
        let s = Store::build();
        let real = s.checkpoint(300);
        let root = if forge_root { forged_root } else { real.root };
        let other = Signer::from_seed(ORIGIN, [9; 32]).unwrap();
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: 300,
            root,
            extensions: Vec::new(),
        };
        let note = sign_checkpoint(&cp, &other).unwrap();
        assert!(open_checkpoint(&note, &other.verifier()).is_ok());
        s.db()
            .execute(
                "UPDATE checkpoints SET note = ?1, root = ?2 WHERE size = 300",
                params![note, &root.0[..]],
            )
            .unwrap();
        let r = s.verify();
        assert_problems(&r, &[("checkpoint 300", "signature does not verify")]);
        assert_only_at(&r, &["checkpoint 300"]);
    }
}

#[test]
fn edited_checkpoint_root_column() {
    let s = Store::build();
    s.db()
        .execute(
            "UPDATE checkpoints SET root = ?1 WHERE size = 300",
            [&Hash::sha256(b"forged root").0[..]],
        )
        .unwrap();
    let r = s.verify();
    assert_problems(
        &r,
        &[("checkpoint 300", "the signed note says size 300 root")],
    );
    assert_only_at(&r, &["checkpoint 300"]);
}

#[test]
fn verify_with_an_auditor_key_that_is_not_the_log_key() {
    let s = Store::build();
    let other = Signer::from_seed(ORIGIN, [3; 32]).unwrap();
    let r = s.verify_with(VerifyOptions {
        key: Some(other.verifier()),
        ..Default::default()
    });
    assert_problems(
        &r,
        &[
            ("checkpoint 100", "signature does not verify"),
            ("checkpoint 300", "signature does not verify"),
            ("checkpoint 600", "signature does not verify"),
        ],
    );
    assert_only_at(&r, &["checkpoint 100", "checkpoint 300", "checkpoint 600"]);
}

// ---- trusted checkpoints ----

#[test]
fn trusted_checkpoint_that_matches() {
    let s = Store::build();
    let r = s.verify_with(VerifyOptions {
        trusted: vec![("witness".into(), s.checkpoint(300).note)],
        ..Default::default()
    });
    assert!(r.ok(), "{}", listing(&r));
    assert_eq!(r.trusted, 1);
}

/// A consistent truncation (leaves, bodies, the covering checkpoint and the tiles all rewritten)
/// leaves no trace in the store; a checkpoint kept elsewhere still shows it.
#[test]
fn trusted_checkpoint_beyond_a_truncated_store() {
    let s = Store::build();
    let kept = s.checkpoint(600).note;
    let db = s.db();
    for table in ["leaves", "bodies"] {
        db.execute(&format!("DELETE FROM {table} WHERE leaf_index >= 500"), [])
            .unwrap();
    }
    db.execute("DELETE FROM checkpoints WHERE size = 600", [])
        .unwrap();
    rewrite_tiles(&db);
    assert!(s.verify().ok(), "the truncation is consistent on its own");

    let r = s.verify_with(VerifyOptions {
        trusted: vec![("backup/checkpoint".into(), kept)],
        ..Default::default()
    });
    assert_problems(
        &r,
        &[(
            "trusted backup/checkpoint",
            "covers 600 leaves but the store holds 500",
        )],
    );
    assert_only_at(&r, &["trusted backup/checkpoint"]);
}

#[test]
fn trusted_checkpoint_of_a_fork() {
    let s = Store::build();
    // Signed by the log's own key, at a size the store has, with a root it does not have.
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: 300,
        root: Hash::sha256(b"a forked history"),
        extensions: Vec::new(),
    };
    let note = sign_checkpoint(&cp, &s.signer()).unwrap();
    let r = s.verify_with(VerifyOptions {
        trusted: vec![("fork".into(), note)],
        ..Default::default()
    });
    assert_problems(&r, &[("trusted fork", SIGNED_ROOT_DIFFERS)]);
    assert_only_at(&r, &["trusted fork"]);
}

#[test]
fn trusted_checkpoint_signed_by_another_key() {
    let s = Store::build();
    let real = s.checkpoint(300);
    let other = Signer::from_seed(ORIGIN, [4; 32]).unwrap();
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: real.size,
        root: real.root,
        extensions: Vec::new(),
    };
    let note = sign_checkpoint(&cp, &other).unwrap();
    let r = s.verify_with(VerifyOptions {
        trusted: vec![("other".into(), note)],
        ..Default::default()
    });
    assert_problems(
        &r,
        &[("trusted other", "does not verify with this log's key")],
    );
    assert_only_at(&r, &["trusted other"]);
}
