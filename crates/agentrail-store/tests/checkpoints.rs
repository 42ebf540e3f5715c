//! Checkpoint safety: the ledger never signs a checkpoint that forks the log it already signed or
//! published, finishes a checkpoint whose signing was interrupted, and keeps its tree equal to
//! the store under concurrent group commits and failed appends.

use agentrail_core::checkpoint::{open_checkpoint, sign_checkpoint, Checkpoint};
use agentrail_core::event::{parse_client_event, ValidEvent};
use agentrail_core::merkle::{self, CompactRange, MemoryTree};
use agentrail_core::note::Signer;
use agentrail_core::Hash;
use agentrail_store::backend::meta;
use agentrail_store::clock::{Clock, ManualClock};
use agentrail_store::ledger::open_read;
use agentrail_store::tiles::TileWriter;
use agentrail_store::verify::{verify, VerifyOptions, VerifyReport};
use agentrail_store::writer::{self, WriterConfig};
use agentrail_store::{AppendOutcome, InitOptions, Ledger, LedgerError};
use rusqlite::{params, Connection};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const ORIGIN: &str = "checkpoints.example/agentrail/test";

// ---- helpers ----

fn clock() -> Arc<dyn Clock> {
    Arc::new(ManualClock::new(1_772_355_600_000))
}

/// A valid client event; `tag` makes its content (and, without `id`, nothing else) distinct.
fn event(id: &str, tag: &str) -> ValidEvent {
    let n = id.len() + tag.len();
    let agent = ["planner", "coder", "reviewer"][n % 3];
    let v = json!({
        "event_id": id,
        "session_id": format!("sess-{}", n % 5),
        "agent_id": agent,
        "principal": "svc-test",
        "kind": "note",
        "ts": "2026-03-01T10:00:00.250+01:00",
        "note": {"text": tag},
    });
    parse_client_event(&serde_json::to_vec(&v).unwrap()).expect("a valid client event")
}

fn events(range: std::ops::Range<u64>) -> Vec<ValidEvent> {
    range
        .map(|i| event(&format!("ev-{i:04}"), &format!("event {i}")))
        .collect()
}

fn init(dir: &Path, publish: Option<PathBuf>) {
    let opts = InitOptions {
        origin: Some(ORIGIN.into()),
        publish,
    };
    Ledger::init(dir, &opts, clock().as_ref()).unwrap();
}

fn open(dir: &Path) -> Result<Ledger, LedgerError> {
    Ledger::open(dir, "checkpoint test", clock())
}

/// Appends `range` (all new) and signs a checkpoint of the result.
fn append_and_sign(ledger: &mut Ledger, range: std::ops::Range<u64>) {
    let start = range.start;
    let out = ledger.append(&events(range.clone()), "api").unwrap();
    let want: Vec<AppendOutcome> = range
        .map(|leaf_index| AppendOutcome::Appended { leaf_index })
        .collect();
    assert_eq!(out, want, "appending from {start}");
    let cp = ledger.checkpoint_now().unwrap();
    assert_eq!(cp.size, ledger.size());
}

/// A closed store with checkpoints at 100 and 300 leaves.
fn store() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir, None);
    let mut ledger = open(&dir).unwrap();
    append_and_sign(&mut ledger, 0..100);
    append_and_sign(&mut ledger, 100..300);
    (tmp, dir)
}

fn db(dir: &Path) -> Connection {
    Connection::open(dir.join("ledger.sqlite")).unwrap()
}

fn verify_dir(dir: &Path) -> VerifyReport {
    let opts = VerifyOptions {
        chunk: 100,
        ..Default::default()
    };
    verify(open_read(dir).unwrap().as_mut(), &opts).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn all_leaves(dir: &Path) -> Vec<Vec<u8>> {
    let db = db(dir);
    let mut stmt = db
        .prepare("SELECT leaf FROM leaves ORDER BY leaf_index")
        .unwrap();
    let rows = stmt.query_map([], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Changes one byte of leaf 42's header (`"source":"api"` becomes `"source":"apx"`).
fn edit_leaf_42(db: &Connection) {
    let leaf: Vec<u8> = db
        .query_row("SELECT leaf FROM leaves WHERE leaf_index = 42", [], |r| {
            r.get(0)
        })
        .unwrap();
    let text = String::from_utf8(leaf).unwrap();
    assert_eq!(text.matches("\"source\":\"api\"").count(), 1);
    let edited = text.replace("\"source\":\"api\"", "\"source\":\"apx\"");
    db.execute(
        "UPDATE leaves SET leaf = ?1 WHERE leaf_index = 42",
        [edited.into_bytes()],
    )
    .unwrap();
}

/// Replaces every tile by the tiles of the leaves as they now are.
fn rewrite_tiles(dir: &Path) {
    let mut tree = CompactRange::new();
    let mut tiles = TileWriter::default();
    for leaf in all_leaves(dir) {
        tree.push(merkle::leaf_hash(&leaf), |l, i, h| tiles.add(l, i, h));
    }
    let db = db(dir);
    db.execute("DELETE FROM tiles", []).unwrap();
    for t in tiles.take_dirty() {
        db.execute(
            "INSERT INTO tiles (level, idx, hashes) VALUES (?1, ?2, ?3)",
            params![t.level, t.index as i64, t.hashes],
        )
        .unwrap();
    }
}

/// Opens, appends one event and signs: the first error on the way.
fn open_append_sign(dir: &Path) -> Result<u64, LedgerError> {
    let mut ledger = open(dir)?;
    ledger.append(&[event("after-tamper", "one more")], "api")?;
    Ok(ledger.checkpoint_now()?.size)
}

#[track_caller]
fn assert_refuses(result: Result<impl std::fmt::Debug, LedgerError>, fragment: &str) {
    match result {
        Err(LedgerError::RefuseToSign(msg)) => {
            assert!(msg.contains(fragment), "{fragment:?} not in {msg:?}")
        }
        other => panic!("expected RefuseToSign ({fragment}), got {other:?}"),
    }
}

// ---- tampering below the latest checkpoint ----

#[test]
fn rewritten_history_below_the_latest_checkpoint_is_not_signed() {
    // Leaf 42 edited and every tile recomputed to match: the tree now has another root at 300.
    let (_tmp, dir) = store();
    edit_leaf_42(&db(&dir));
    rewrite_tiles(&dir);
    assert_refuses(open_append_sign(&dir), "the store was altered");

    // A stored tree hash edited (node 8/0, which the root of 300 is built from).
    let (_tmp, dir) = store();
    let db = db(&dir);
    let mut hashes: Vec<u8> = db
        .query_row(
            "SELECT hashes FROM tiles WHERE level = 1 AND idx = 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    hashes[0] ^= 1;
    db.execute(
        "UPDATE tiles SET hashes = ?1 WHERE level = 1 AND idx = 0",
        [hashes],
    )
    .unwrap();
    assert_refuses(open_append_sign(&dir), "the store was altered");
}

/// Only the leaf row is edited; the tiles still hold its original hash. The ledger may refuse
/// to sign, or sign; what it must never do is sign a root that takes the edited leaf in.
#[test]
fn edited_leaf_below_the_latest_checkpoint_is_never_signed_into_the_tree() {
    let (_tmp, dir) = store();
    let original = all_leaves(&dir);
    edit_leaf_42(&db(&dir));
    match open_append_sign(&dir) {
        Err(LedgerError::RefuseToSign(_)) => {}
        Err(e) => panic!("expected RefuseToSign or a checkpoint, got {e:?}"),
        Ok(size) => {
            assert_eq!(size, 301);
            let mut honest = MemoryTree::new();
            for leaf in original.iter().chain(&all_leaves(&dir)[300..]) {
                honest.push(merkle::leaf_hash(leaf));
            }
            let cp = open_read(&dir)
                .unwrap()
                .checkpoint_at(301)
                .unwrap()
                .unwrap();
            assert_eq!(
                cp.root,
                honest.root(),
                "the signed root covers the edited leaf"
            );
            let r = verify_dir(&dir);
            assert!(
                r.problems.iter().any(|p| p.location == "leaf 42"),
                "{:?}",
                r.problems
            );
        }
    }
}

// ---- the published checkpoint ----

#[test]
fn restored_backup_is_behind_the_published_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let publish = tmp.path().join("published");
    init(&dir, Some(publish.clone()));

    let mut ledger = open(&dir).unwrap();
    assert!(ledger.publish_dir().is_some());
    append_and_sign(&mut ledger, 0..100);
    drop(ledger);
    let backup = tmp.path().join("backup");
    copy_dir(&dir, &backup);

    let mut ledger = open(&dir).unwrap();
    append_and_sign(&mut ledger, 100..250);
    let verifier = ledger.verifier();
    drop(ledger);
    let published = std::fs::read_to_string(publish.join("checkpoint")).unwrap();
    assert_eq!(open_checkpoint(&published, &verifier).unwrap().size, 250);

    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::rename(&backup, &dir).unwrap();
    assert_refuses(open(&dir), "behind");
    // Nothing was signed on the way.
    assert_eq!(
        std::fs::read_to_string(publish.join("checkpoint")).unwrap(),
        published
    );
}

#[test]
fn forked_store_is_refused_by_the_published_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir, Some(tmp.path().join("published")));
    let twin = tmp.path().join("twin");
    copy_dir(&dir, &twin);

    // Same key, same publish directory, another history of the same length, not yet signed.
    let mut fork = open(&twin).unwrap();
    let other: Vec<ValidEvent> = (0..100)
        .map(|i| event(&format!("other-{i}"), "another history"))
        .collect();
    fork.append(&other, "api").unwrap();
    drop(fork);

    append_and_sign(&mut open(&dir).unwrap(), 0..100);
    assert_refuses(open(&twin), "the store has forked");
}

#[test]
fn published_checkpoint_signed_by_another_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let publish = tmp.path().join("published");
    init(&dir, Some(publish.clone()));
    let other = Signer::from_seed(ORIGIN, [6; 32]).unwrap();
    let cp = Checkpoint {
        origin: ORIGIN.into(),
        size: 0,
        root: merkle::empty_root(),
        extensions: Vec::new(),
    };
    std::fs::write(
        publish.join("checkpoint"),
        sign_checkpoint(&cp, &other).unwrap(),
    )
    .unwrap();
    assert_refuses(open(&dir), "does not verify with this log's key");
}

// ---- interrupted signing ----

fn set_pending(dir: &Path, value: &str) {
    open_read(dir)
        .unwrap()
        .set_meta(meta::PENDING_CHECKPOINT, value)
        .unwrap();
}

#[test]
fn pending_checkpoint_is_finished_on_open() {
    let (_tmp, dir) = store();
    let mut ledger = open(&dir).unwrap();
    ledger.append(&events(300..350), "api").unwrap();
    let (size, root, verifier) = (ledger.size(), ledger.root(), ledger.verifier());
    drop(ledger);
    // The record persisted before signing; the signature never reached the store.
    set_pending(&dir, &format!("{size} {}", root.to_hex()));

    let ledger = open(&dir).unwrap();
    drop(ledger);
    let mut b = open_read(&dir).unwrap();
    let cp = b
        .checkpoint_at(size)
        .unwrap()
        .expect("the checkpoint was finished");
    assert_eq!(cp.root, root);
    let opened = open_checkpoint(&cp.note, &verifier).unwrap();
    assert_eq!((opened.size, opened.root), (size, root));
    assert_eq!(b.meta(meta::PENDING_CHECKPOINT).unwrap(), None);
    assert!(verify_dir(&dir).ok());
    // And the store opens again.
    open(&dir).unwrap();
}

#[test]
fn pending_checkpoint_that_does_not_match_the_tree_is_refused() {
    let (_tmp, dir) = store();
    set_pending(
        &dir,
        &format!("200 {}", Hash::sha256(b"another root").to_hex()),
    );
    assert_refuses(open(&dir), "was being signed with root");

    let (_tmp, dir) = store();
    let root = open(&dir).unwrap().root();
    set_pending(&dir, &format!("400 {}", root.to_hex()));
    assert_refuses(open(&dir), "the store has only 300 leaves");
}

/// The state the ledger's own comment describes ("stored, but the pending record survived"):
/// opening clears the record, and the store must open again afterwards.
#[test]
fn pending_checkpoint_already_stored_is_cleared() {
    let (_tmp, dir) = store();
    let cp = open_read(&dir)
        .unwrap()
        .checkpoint_at(300)
        .unwrap()
        .unwrap();
    set_pending(&dir, &format!("300 {}", cp.root.to_hex()));

    drop(open(&dir).unwrap());
    let second = open(&dir);
    assert!(
        second.is_ok(),
        "reopening failed: {:?}",
        second.unwrap_err()
    );
}

// ---- the tree stays equal to the store ----

/// An append that fails (here: the second event's body has no canonical form, so it cannot be
/// sealed) must leave the tree as it was; otherwise the next commit and checkpoint take in a leaf
/// that was never stored.
#[test]
fn failed_append_leaves_the_tree_unchanged() {
    let (_tmp, dir) = store();
    let mut ledger = open(&dir).unwrap();
    let (size, root) = (ledger.size(), ledger.root());
    let mut bad = event("bad-1", "bad");
    bad.body.insert("n".into(), json!(1u64 << 60));
    let err = ledger.append(&[event("good-1", "good"), bad], "api");
    assert!(err.is_err(), "sealing an out-of-range integer must fail");
    assert_eq!(
        (ledger.size(), ledger.root()),
        (size, root),
        "the failed batch changed the tree"
    );

    let out = ledger.append(&[event("good-2", "good")], "api").unwrap();
    assert_eq!(out, vec![AppendOutcome::Appended { leaf_index: size }]);
    ledger.checkpoint_now().unwrap();
    drop(ledger);
    let r = verify_dir(&dir);
    assert!(r.ok(), "{:?}", r.problems);
}

/// 4 threads, each 50 batches of 20 through clones of one Writer. Each batch holds 18 events of
/// its own, one event every thread sends identically (a duplicate) and one every thread sends
/// with its own content (a conflict).
#[test]
fn group_commit_writer_under_concurrency() {
    const THREADS: usize = 4;
    const BATCHES: usize = 50;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    init(&dir, None);
    let (writer, handle) = writer::spawn(open(&dir).unwrap(), WriterConfig::default());

    let batch = |t: usize, b: usize| -> Vec<ValidEvent> {
        let mut out: Vec<ValidEvent> = (0..18)
            .map(|k| event(&format!("t{t}-b{b}-{k}"), &format!("thread {t}")))
            .collect();
        out.insert(b % 18, event(&format!("shared-{b}"), "the same for all"));
        out.push(event(
            &format!("conflict-{b}"),
            &format!("thread {t}'s version"),
        ));
        out
    };
    let results: Vec<Vec<(String, AppendOutcome)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let writer = writer.clone();
                s.spawn(move || {
                    let mut seen = Vec::new();
                    for b in 0..BATCHES {
                        let events = batch(t, b);
                        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
                        let out = writer.append(&events, "api").unwrap();
                        assert_eq!(out.len(), ids.len());
                        seen.extend(ids.into_iter().zip(out));
                    }
                    seen
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    drop(writer);
    let mut ledger = handle.join().unwrap();

    // Every appended index is unique, and together they are exactly 0..size.
    let expected = THREADS * BATCHES * 18 + 2 * BATCHES;
    let mut appended: HashMap<String, u64> = HashMap::new();
    let mut indexes = BTreeSet::new();
    for (id, outcome) in results.iter().flatten() {
        if let AppendOutcome::Appended { leaf_index } = outcome {
            assert!(
                indexes.insert(*leaf_index),
                "index {leaf_index} returned twice"
            );
            assert!(
                appended.insert(id.clone(), *leaf_index).is_none(),
                "{id} appended twice"
            );
        }
    }
    assert_eq!(indexes.len(), expected);
    assert_eq!(
        indexes.iter().copied().collect::<Vec<_>>(),
        (0..expected as u64).collect::<Vec<_>>()
    );
    assert_eq!(ledger.size(), expected as u64);

    // Shared ids: appended once, then Duplicate (same content) or Conflict (other content),
    // always with the first index.
    for (id, outcome) in results.iter().flatten() {
        let first = appended[id];
        match outcome {
            AppendOutcome::Appended { leaf_index } => assert_eq!(*leaf_index, first),
            AppendOutcome::Duplicate { leaf_index } => {
                assert!(id.starts_with("shared-"), "{id} came back Duplicate");
                assert_eq!(*leaf_index, first, "{id}");
            }
            AppendOutcome::Conflict { leaf_index } => {
                assert!(id.starts_with("conflict-"), "{id} came back Conflict");
                assert_eq!(*leaf_index, first, "{id}");
            }
        }
    }
    for prefix in ["shared-", "conflict-"] {
        let outcomes = results
            .iter()
            .flatten()
            .filter(|(id, _)| id.starts_with(prefix))
            .count();
        assert_eq!(outcomes, THREADS * BATCHES);
    }

    // Each index holds the event it was reported for.
    let mut reader = ledger.reader();
    for (id, index) in &appended {
        let row = reader.backend().leaf(*index).unwrap().unwrap();
        assert_eq!(&row.event_id, id);
    }
    let r = verify(
        reader.backend(),
        &VerifyOptions {
            chunk: 500,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.ok(), "{:?}", r.problems);
    assert_eq!(r.leaves, expected as u64);
    assert_eq!(
        r.latest_checkpoint,
        Some(expected as u64),
        "the writer seals on stop"
    );
}
