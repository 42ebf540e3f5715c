//! The backend conformance suite: what every [`Backend`] must do, tested through the trait only.
//!
//! Each contract test is a plain function over an opener; [`backend_suite!`] expands the whole
//! list into one `#[test]` per function for one backend (after quickwit's
//! `metastore_test_suite!`). A new backend (PostgreSQL next) adds one `backend_suite!` line and
//! must pass every test unchanged. Nothing here may depend on how SQLite stores rows.
//!
//! The opener's contract: it is given a fresh empty directory per test, and opening the same
//! directory again (as `reopen_keeps_everything_committed` does) reaches the same store.

use agentrail_core::Hash;
use agentrail_store::backend::{meta, ApiKeyRow, Backend, CheckpointRow, LeafRow, TileRow};
use agentrail_store::sqlite::SqliteBackend;
use std::path::Path;

/// Opens (creating on first use) the backend whose data lives under a directory.
type Open<'a> = &'a dyn Fn(&Path) -> Box<dyn Backend>;

/// Expands every contract test for one backend: `backend_suite!(name, opener)`.
macro_rules! backend_suite {
    ($backend:ident, $open:expr) => {
        mod $backend {
            use super::*;

            backend_suite!(@tests $open;
                empty_store_has_nothing,
                commit_then_read_back_every_field,
                leaf_count_follows_commits,
                find_event_ids_preserves_order,
                failed_commit_leaves_nothing_of_its_batch,
                commit_never_overwrites_a_leaf_index,
                tile_upsert_extends_a_partial_tile,
                tile_keys_are_in_level_then_index_order,
                checkpoints_ascend_and_are_found_by_size,
                checkpoint_at_a_stored_size_is_never_replaced,
                put_checkpoint_clears_the_pending_record,
                meta_set_and_overwrite,
                leaves_paginate_in_index_order,
                session_leaves_are_one_sessions_below_a_size,
                reopen_keeps_everything_committed,
                api_keys_commit_with_leaves_and_update_by_id,
                failed_commit_stores_no_api_key,
            );
        }
    };
    (@tests $open:expr; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let open = $open;
                super::$test(&open, dir.path());
            }
        )*
    };
}

backend_suite!(sqlite, |dir: &Path| Box::new(
    SqliteBackend::open(&dir.join("db.sqlite"), true).unwrap()
) as Box<dyn Backend>);

// ---- rows ----

fn hash(tag: &str, i: u64) -> Hash {
    Hash::sha256(format!("{tag} {i}").as_bytes())
}

/// A leaf row with every field set; the backend must not care what the bytes mean.
fn leaf(i: u64) -> LeafRow {
    LeafRow {
        leaf_index: i,
        event_id: format!("ev-{i}"),
        content_hash: hash("content", i),
        session_id: format!("sess-{}", i % 3),
        agent_id: format!("agent-{}", i % 2),
        kind: ["note", "action", "decision"][(i % 3) as usize].to_string(),
        ts: format!("2026-03-01T09:00:{:02}Z", i % 60),
        received_at: format!("2026-03-01T09:01:{:02}.5Z", i % 60),
        principal: i.is_multiple_of(2).then(|| format!("svc-{i}")),
        leaf: format!("{{\"leaf\":{i}}}").into_bytes(),
        body: Some(format!("{{\"body\":{i}}}").into_bytes()),
    }
}

fn leaves(range: std::ops::Range<u64>) -> Vec<LeafRow> {
    range.map(leaf).collect()
}

/// `n` distinct 32-byte hashes, as a tile holds them.
fn tile(level: u8, index: u64, n: usize) -> TileRow {
    let mut hashes = Vec::with_capacity(n * 32);
    for k in 0..n as u64 {
        hashes.extend_from_slice(&hash(&format!("tile {level}/{index}"), k).0);
    }
    TileRow {
        level,
        index,
        hashes,
    }
}

fn checkpoint(size: u64) -> CheckpointRow {
    CheckpointRow {
        size,
        root: hash("root", size),
        note: format!("example.test/log\n{size}\nroot\n\n— example.test/log sig{size}\n"),
        signed_at: format!("2026-03-01T10:00:{:02}Z", size % 60),
    }
}

fn sizes(rows: &[CheckpointRow]) -> Vec<u64> {
    rows.iter().map(|c| c.size).collect()
}

// ---- the contract ----

fn empty_store_has_nothing(open: Open, dir: &Path) {
    let mut b = open(dir);
    assert_eq!(b.leaf_count().unwrap(), 0);
    assert_eq!(b.leaves(0, 10).unwrap(), vec![]);
    assert_eq!(b.leaf(0).unwrap(), None);
    assert_eq!(b.leaf_by_event_id("ev-0").unwrap(), None);
    assert_eq!(b.find_event_ids(&["ev-0"]).unwrap(), vec![None]);
    assert_eq!(b.find_event_ids(&[]).unwrap(), vec![]);
    assert_eq!(b.tile(0, 0).unwrap(), None);
    assert_eq!(b.tile_keys().unwrap(), vec![]);
    assert_eq!(b.checkpoints().unwrap(), vec![]);
    assert_eq!(b.latest_checkpoint().unwrap(), None);
    assert_eq!(b.checkpoint_at(0).unwrap(), None);
    assert_eq!(b.meta(meta::ORIGIN).unwrap(), None);
    assert!(!b.name().is_empty());
}

fn commit_then_read_back_every_field(open: Open, dir: &Path) {
    let mut b = open(dir);
    let mut rows = leaves(0..4);
    // Non-ASCII text and arbitrary bytes come back verbatim: the backend never interprets them.
    rows[1].session_id = "sessão-ü-日本".into();
    rows[1].principal = Some("svc-ñ".into());
    rows[1].leaf = vec![0x00, 0xff, b'"', b'\\', 0x80, 0x7f];
    rows[1].body = Some(vec![0x00, 0x01, 0xfe, 0xff]);
    // An erased body reads back as None, not as an empty body.
    rows[2].body = None;
    rows[3].principal = None;
    b.commit(&rows, &[tile(0, 0, 4)]).unwrap();

    for row in &rows {
        assert_eq!(b.leaf(row.leaf_index).unwrap().as_ref(), Some(row));
        assert_eq!(
            b.leaf_by_event_id(&row.event_id).unwrap().as_ref(),
            Some(row)
        );
    }
    assert_eq!(b.leaves(0, 10).unwrap(), rows);
    assert_eq!(b.leaf(4).unwrap(), None);
    assert_eq!(b.leaf_by_event_id("ev-4").unwrap(), None);
    assert_eq!(b.tile(0, 0).unwrap(), Some(tile(0, 0, 4).hashes));
}

fn leaf_count_follows_commits(open: Open, dir: &Path) {
    let mut b = open(dir);
    assert_eq!(b.leaf_count().unwrap(), 0);
    b.commit(&leaves(0..1), &[]).unwrap();
    assert_eq!(b.leaf_count().unwrap(), 1);
    b.commit(&leaves(1..300), &[]).unwrap();
    assert_eq!(b.leaf_count().unwrap(), 300);
    b.commit(&leaves(300..301), &[]).unwrap();
    assert_eq!(b.leaf_count().unwrap(), 301);
}

fn find_event_ids_preserves_order(open: Open, dir: &Path) {
    let mut b = open(dir);
    let rows = leaves(0..5);
    b.commit(&rows, &[]).unwrap();
    let found = |i: usize| Some((rows[i].leaf_index, rows[i].content_hash));
    assert_eq!(
        b.find_event_ids(&["ev-3", "nope", "ev-0", "ev-4", "EV-1", "ev-1"])
            .unwrap(),
        vec![found(3), None, found(0), found(4), None, found(1)]
    );
    assert_eq!(b.find_event_ids(&["ev-2"]).unwrap(), vec![found(2)]);
    assert_eq!(b.find_event_ids(&["ev-5"]).unwrap(), vec![None]);
}

fn failed_commit_leaves_nothing_of_its_batch(open: Open, dir: &Path) {
    let mut b = open(dir);
    let first = leaves(0..1);
    b.commit(&first, &[tile(0, 0, 1)]).unwrap();

    // The second leaf reuses the stored event_id "ev-0": the whole commit must fail.
    let mut bad = leaves(1..3);
    bad[1].event_id = "ev-0".into();
    let err = b.commit(&bad, &[tile(0, 0, 3), tile(1, 0, 1)]);
    assert!(err.is_err(), "a commit with a duplicate event_id must fail");

    assert_eq!(b.leaf_count().unwrap(), 1);
    assert_eq!(b.leaves(0, 10).unwrap(), first);
    assert_eq!(b.leaf(1).unwrap(), None);
    assert_eq!(b.leaf(2).unwrap(), None);
    assert_eq!(b.leaf_by_event_id("ev-1").unwrap(), None);
    assert_eq!(
        b.find_event_ids(&["ev-1", "ev-0"]).unwrap(),
        vec![None, Some((0, first[0].content_hash))]
    );
    assert_eq!(b.tile(0, 0).unwrap(), Some(tile(0, 0, 1).hashes));
    assert_eq!(b.tile(1, 0).unwrap(), None);
    assert_eq!(b.tile_keys().unwrap(), vec![(0, 0)]);

    // The backend is still usable: the corrected batch commits.
    b.commit(&leaves(1..3), &[tile(0, 0, 3)]).unwrap();
    assert_eq!(b.leaf_count().unwrap(), 3);
    assert_eq!(b.leaves(0, 10).unwrap(), leaves(0..3));
    assert_eq!(b.tile(0, 0).unwrap(), Some(tile(0, 0, 3).hashes));
}

fn commit_never_overwrites_a_leaf_index(open: Open, dir: &Path) {
    let mut b = open(dir);
    b.commit(&leaves(0..2), &[tile(0, 0, 2)]).unwrap();
    let mut again = leaf(1);
    again.event_id = "ev-other".into();
    again.leaf = b"{\"other\":1}".to_vec();
    assert!(
        b.commit(&[again], &[tile(0, 0, 1)]).is_err(),
        "a commit that reuses a stored leaf_index must fail"
    );
    assert_eq!(b.leaves(0, 10).unwrap(), leaves(0..2));
    assert_eq!(b.leaf_by_event_id("ev-other").unwrap(), None);
    assert_eq!(b.tile(0, 0).unwrap(), Some(tile(0, 0, 2).hashes));
}

fn tile_upsert_extends_a_partial_tile(open: Open, dir: &Path) {
    let mut b = open(dir);
    b.commit(&leaves(0..3), &[tile(0, 0, 3)]).unwrap();
    assert_eq!(b.tile(0, 0).unwrap(), Some(tile(0, 0, 3).hashes));

    // The right-edge tile is rewritten, longer, as the tree grows; its first hashes are the same.
    let extended = tile(0, 0, 7);
    assert_eq!(&extended.hashes[..3 * 32], &tile(0, 0, 3).hashes[..]);
    b.commit(&leaves(3..7), std::slice::from_ref(&extended))
        .unwrap();
    assert_eq!(b.tile(0, 0).unwrap(), Some(extended.hashes));
    assert_eq!(b.tile_keys().unwrap(), vec![(0, 0)]);
    assert_eq!(b.tile(0, 1).unwrap(), None);
    assert_eq!(b.tile(1, 0).unwrap(), None);

    // A full tile, then the next partial one, in one commit.
    let full = tile(0, 0, 256);
    b.commit(
        &leaves(7..258),
        &[full.clone(), tile(0, 1, 2), tile(1, 0, 1)],
    )
    .unwrap();
    assert_eq!(b.tile(0, 0).unwrap(), Some(full.hashes));
    assert_eq!(b.tile(0, 1).unwrap(), Some(tile(0, 1, 2).hashes));
    assert_eq!(b.tile(1, 0).unwrap(), Some(tile(1, 0, 1).hashes));
}

fn tile_keys_are_in_level_then_index_order(open: Open, dir: &Path) {
    let mut b = open(dir);
    // Written out of order, in separate commits; indexes 2, 9 and 10 catch a textual sort.
    let written = [(1, 0), (0, 10), (2, 0), (0, 2), (0, 0), (0, 9), (1, 1)];
    for (k, (level, index)) in written.into_iter().enumerate() {
        let k = k as u64;
        b.commit(&leaves(k..k + 1), &[tile(level, index, 1)])
            .unwrap();
    }
    assert_eq!(
        b.tile_keys().unwrap(),
        vec![(0, 0), (0, 2), (0, 9), (0, 10), (1, 0), (1, 1), (2, 0)]
    );
    for (level, index) in written {
        assert_eq!(
            b.tile(level, index).unwrap(),
            Some(tile(level, index, 1).hashes)
        );
    }
}

fn checkpoints_ascend_and_are_found_by_size(open: Open, dir: &Path) {
    let mut b = open(dir);
    // Stored out of order; 1000 after 300 catches a textual sort.
    for size in [300, 100, 1000, 600] {
        b.put_checkpoint(&checkpoint(size)).unwrap();
    }
    let all = b.checkpoints().unwrap();
    assert_eq!(sizes(&all), vec![100, 300, 600, 1000]);
    assert_eq!(all[1], checkpoint(300), "every field reads back");
    assert_eq!(b.latest_checkpoint().unwrap(), Some(checkpoint(1000)));
    assert_eq!(b.checkpoint_at(600).unwrap(), Some(checkpoint(600)));
    assert_eq!(b.checkpoint_at(100).unwrap(), Some(checkpoint(100)));
    assert_eq!(b.checkpoint_at(200).unwrap(), None);
    assert_eq!(b.checkpoint_at(0).unwrap(), None);
    assert_eq!(b.checkpoint_at(1001).unwrap(), None);
}

fn checkpoint_at_a_stored_size_is_never_replaced(open: Open, dir: &Path) {
    let mut b = open(dir);
    b.put_checkpoint(&checkpoint(100)).unwrap();
    let mut other = checkpoint(100);
    other.root = hash("other root", 100);
    other.note = "another note\n".into();
    assert!(
        b.put_checkpoint(&other).is_err(),
        "a second checkpoint of a stored size must be refused"
    );
    assert_eq!(b.checkpoints().unwrap(), vec![checkpoint(100)]);
}

fn put_checkpoint_clears_the_pending_record(open: Open, dir: &Path) {
    let mut b = open(dir);
    b.set_meta(meta::ORIGIN, "example.test/log").unwrap();
    let pending = format!("100 {}", hash("root", 100).to_hex());
    b.set_meta(meta::PENDING_CHECKPOINT, &pending).unwrap();
    assert_eq!(b.meta(meta::PENDING_CHECKPOINT).unwrap(), Some(pending));

    b.put_checkpoint(&checkpoint(100)).unwrap();
    assert_eq!(b.meta(meta::PENDING_CHECKPOINT).unwrap(), None);
    assert_eq!(b.checkpoint_at(100).unwrap(), Some(checkpoint(100)));
    // Only the pending record is cleared.
    assert_eq!(
        b.meta(meta::ORIGIN).unwrap().as_deref(),
        Some("example.test/log")
    );

    // Without a pending record, put_checkpoint still succeeds.
    b.put_checkpoint(&checkpoint(200)).unwrap();
    assert_eq!(b.meta(meta::PENDING_CHECKPOINT).unwrap(), None);
}

fn meta_set_and_overwrite(open: Open, dir: &Path) {
    let mut b = open(dir);
    assert_eq!(b.meta(meta::ORIGIN).unwrap(), None);
    b.set_meta(meta::ORIGIN, "a.example/log").unwrap();
    b.set_meta(meta::LOG_ID, "0123456789abcdef").unwrap();
    assert_eq!(
        b.meta(meta::ORIGIN).unwrap().as_deref(),
        Some("a.example/log")
    );
    b.set_meta(meta::ORIGIN, "b.example/log — ü").unwrap();
    assert_eq!(
        b.meta(meta::ORIGIN).unwrap().as_deref(),
        Some("b.example/log — ü")
    );
    assert_eq!(
        b.meta(meta::LOG_ID).unwrap().as_deref(),
        Some("0123456789abcdef")
    );
    b.set_meta(meta::PUBLISH_DIR, "").unwrap();
    assert_eq!(b.meta(meta::PUBLISH_DIR).unwrap().as_deref(), Some(""));
    assert_eq!(b.meta("no such key").unwrap(), None);
}

fn leaves_paginate_in_index_order(open: Open, dir: &Path) {
    let mut b = open(dir);
    let mut all = leaves(0..10);
    all[5].body = None;
    b.commit(&all[..3], &[]).unwrap();
    b.commit(&all[3..4], &[]).unwrap();
    b.commit(&all[4..], &[]).unwrap();

    assert_eq!(b.leaves(0, 4).unwrap(), all[0..4]);
    assert_eq!(b.leaves(4, 4).unwrap(), all[4..8]);
    assert_eq!(b.leaves(8, 4).unwrap(), all[8..10]);
    assert_eq!(b.leaves(10, 4).unwrap(), vec![]);
    assert_eq!(b.leaves(1_000, 4).unwrap(), vec![]);
    assert_eq!(b.leaves(3, 0).unwrap(), vec![]);
    assert_eq!(b.leaves(7, 1).unwrap(), all[7..8]);
    assert_eq!(b.leaves(0, 100).unwrap(), all);

    // Paging by the last index seen walks every leaf exactly once.
    let mut seen = Vec::new();
    let mut next = 0;
    loop {
        let page = b.leaves(next, 3).unwrap();
        let Some(last) = page.last() else { break };
        next = last.leaf_index + 1;
        seen.extend(page);
    }
    assert_eq!(seen, all);
}

fn session_leaves_are_one_sessions_below_a_size(open: Open, dir: &Path) {
    let mut b = open(dir);
    let mut rows = leaves(0..6);
    for (i, row) in rows.iter_mut().enumerate() {
        row.session_id = if i % 2 == 0 { "s-even" } else { "s-odd" }.into();
    }
    rows[4].body = None;
    b.commit(&rows, &[]).unwrap();
    let even: Vec<LeafRow> = rows.iter().step_by(2).cloned().collect();
    assert_eq!(b.session_leaves("s-even", 6).unwrap(), even);
    assert_eq!(b.session_leaves("s-even", 4).unwrap(), even[..2].to_vec());
    assert_eq!(b.session_leaves("s-none", 6).unwrap(), vec![]);
    assert_eq!(
        b.leaves_at(&[5, 9, 0]).unwrap(),
        vec![rows[5].clone(), rows[0].clone()]
    );
}

fn reopen_keeps_everything_committed(open: Open, dir: &Path) {
    let rows = leaves(0..3);
    {
        let mut b = open(dir);
        b.commit(&rows, &[tile(0, 0, 3)]).unwrap();
        b.put_checkpoint(&checkpoint(3)).unwrap();
        b.set_meta(meta::ORIGIN, "example.test/log").unwrap();
    }
    let mut b = open(dir);
    assert_eq!(b.leaf_count().unwrap(), 3);
    assert_eq!(b.leaves(0, 10).unwrap(), rows);
    assert_eq!(b.tile(0, 0).unwrap(), Some(tile(0, 0, 3).hashes));
    assert_eq!(b.latest_checkpoint().unwrap(), Some(checkpoint(3)));
    assert_eq!(
        b.meta(meta::ORIGIN).unwrap().as_deref(),
        Some("example.test/log")
    );
}

// ---- SQLite only ----

/// Durability depends on these: a returned commit has been fsynced to the WAL.
#[test]
fn sqlite_is_wal_with_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    for create in [true, false] {
        let b = SqliteBackend::open(&path, create).unwrap();
        assert_eq!(b.synchronous().unwrap(), 2, "synchronous must be FULL (2)");
        let mode: String = b
            .connection()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode.to_ascii_lowercase(), "wal");
    }
}

// ---- API keys ----

fn api_key(id: &str, revoked: bool) -> ApiKeyRow {
    ApiKeyRow {
        id: id.to_string(),
        name: format!("key {id}"),
        role: "ingest".into(),
        agent: Some("agent-1".into()),
        secret_sha256: hash("secret", id.len() as u64),
        created_at: format!("2026-03-01T09:00:0{}Z", id.len() % 10),
        revoked_at: revoked.then(|| "2026-03-02T00:00:00Z".to_string()),
    }
}

fn api_keys_commit_with_leaves_and_update_by_id(open: Open, dir: &Path) {
    let mut b = open(dir);
    assert_eq!(b.api_keys().unwrap(), vec![]);
    b.commit_with_keys(&leaves(0..1), &[], &[api_key("k1", false)])
        .unwrap();
    b.commit_with_keys(&[], &[], &[api_key("k22", false)])
        .unwrap();
    assert_eq!(
        b.api_keys().unwrap(),
        vec![api_key("k1", false), api_key("k22", false)]
    );
    // Upserting by id records the revocation and changes nothing else.
    b.commit_with_keys(&leaves(1..2), &[], &[api_key("k1", true)])
        .unwrap();
    assert_eq!(b.api_keys().unwrap()[0], api_key("k1", true));
    assert_eq!(b.leaf_count().unwrap(), 2);
    drop(b);
    assert_eq!(open(dir).api_keys().unwrap().len(), 2);
}

fn failed_commit_stores_no_api_key(open: Open, dir: &Path) {
    let mut b = open(dir);
    b.commit(&leaves(0..1), &[]).unwrap();
    // Leaf 0 again: the commit fails, and the key must not be stored without its record.
    assert!(b
        .commit_with_keys(&leaves(0..1), &[], &[api_key("k1", false)])
        .is_err());
    assert_eq!(b.api_keys().unwrap(), vec![]);
}
