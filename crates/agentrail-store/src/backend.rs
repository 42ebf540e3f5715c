//! The storage seam: everything the ledger asks of a database, and nothing more.
//!
//! A backend stores rows; it never interprets them. Hashing, proofs and signing happen above it,
//! in the [`crate::Ledger`], so a backend cannot make the log lie: at worst it loses or alters rows,
//! and `verify` says so. Every backend passes the same conformance suite
//! (`tests/conformance.rs`).

use crate::LedgerError;
use agentrail_core::Hash;

/// One stored event: its leaf bytes verbatim, its body bytes verbatim (absent once erased), and
/// the indexed columns, which are copies of header fields that `verify` cross-checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafRow {
    pub leaf_index: u64,
    pub event_id: String,
    /// SHA-256 of the client's content: the idempotency record.
    pub content_hash: Hash,
    pub session_id: String,
    pub agent_id: String,
    pub kind: String,
    pub ts: String,
    pub received_at: String,
    pub principal: Option<String>,
    pub leaf: Vec<u8>,
    pub body: Option<Vec<u8>>,
}

/// One signed checkpoint, verbatim, with its size and root as columns for lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRow {
    pub size: u64,
    pub root: Hash,
    /// The signed note, verbatim.
    pub note: String,
    pub signed_at: String,
}

/// A tile of Merkle hashes: `hashes` is the concatenation of up to 256 32-byte hashes of tree
/// level `8 * level`, starting at node index `256 * index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileRow {
    pub level: u8,
    pub index: u64,
    pub hashes: Vec<u8>,
}

/// An API key as stored: never the secret, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    /// The public part of the key (`ark_<id>_...`), 16 hex digits.
    pub id: String,
    pub name: String,
    /// `ingest`, `read` or `admin`.
    pub role: String,
    /// For ingest keys: the one agent whose events the key may write.
    pub agent: Option<String>,
    /// SHA-256 of the secret part.
    pub secret_sha256: Hash,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// Whole-table counts `verify` holds the walk of the tree to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    /// Every leaf row, whatever its index.
    pub leaf_rows: u64,
    /// Leaf rows whose index is below 0 (outside any tree).
    pub negative_indexes: u64,
    /// Body rows with no leaf row.
    pub orphan_bodies: u64,
}

/// Meta keys the ledger uses.
pub mod meta {
    pub const FORMAT: &str = "format";
    pub const ORIGIN: &str = "origin";
    pub const LOG_ID: &str = "log_id";
    pub const VKEY: &str = "vkey";
    pub const PUBLISH_DIR: &str = "publish_dir";
    pub const CREATED_AT: &str = "created_at";
    /// `"<size> <root hex>"` of a checkpoint being signed: persisted before the signature.
    pub const PENDING_CHECKPOINT: &str = "pending_checkpoint";
}

/// What a database must do for the ledger.
pub trait Backend: Send {
    /// A short name for messages ("sqlite").
    fn name(&self) -> &'static str;
    /// Number of stored leaves (the tree size).
    fn leaf_count(&mut self) -> Result<u64, LedgerError>;
    /// For each id, the stored leaf index and content hash, if any.
    fn find_event_ids(&mut self, ids: &[&str]) -> Result<Vec<Option<(u64, Hash)>>, LedgerError>;
    /// Stores leaves and tile upserts in one transaction, durably, or nothing at all.
    fn commit(&mut self, leaves: &[LeafRow], tiles: &[TileRow]) -> Result<(), LedgerError> {
        self.commit_with_keys(leaves, tiles, &[])
    }
    /// [`Backend::commit`], also upserting API keys in the same transaction, so a key and the
    /// ledger record of its creation or revocation are stored together or not at all.
    fn commit_with_keys(
        &mut self,
        leaves: &[LeafRow],
        tiles: &[TileRow],
        keys: &[ApiKeyRow],
    ) -> Result<(), LedgerError>;
    /// Counts over whole tables, for `verify`.
    fn store_counts(&mut self) -> Result<StoreCounts, LedgerError>;
    /// The tree size, the counts and the API keys, read in one transaction: the consistent
    /// starting point `verify` holds the rest of its reads to while a writer keeps appending.
    fn verify_snapshot(&mut self) -> Result<(u64, StoreCounts, Vec<ApiKeyRow>), LedgerError>;
    /// Every API key, revoked ones included, ordered by creation.
    fn api_keys(&mut self) -> Result<Vec<ApiKeyRow>, LedgerError>;
    /// Up to `limit` leaves from `start` in index order, read in one bounded transaction.
    fn leaves(&mut self, start: u64, limit: usize) -> Result<Vec<LeafRow>, LedgerError>;
    fn leaf(&mut self, index: u64) -> Result<Option<LeafRow>, LedgerError>;
    fn leaf_by_event_id(&mut self, id: &str) -> Result<Option<LeafRow>, LedgerError>;
    /// Every leaf of one session below `below` (a tree size), in index order, with bodies.
    fn session_leaves(&mut self, session_id: &str, below: u64)
        -> Result<Vec<LeafRow>, LedgerError>;
    /// The leaves at these indexes, in the order given; absent indexes are skipped.
    fn leaves_at(&mut self, indexes: &[u64]) -> Result<Vec<LeafRow>, LedgerError>;
    fn tile(&mut self, level: u8, index: u64) -> Result<Option<Vec<u8>>, LedgerError>;
    /// Every stored tile, in (level, index) order: for `verify`.
    fn tile_keys(&mut self) -> Result<Vec<(u8, u64)>, LedgerError>;
    /// All checkpoints, ascending by size.
    fn checkpoints(&mut self) -> Result<Vec<CheckpointRow>, LedgerError>;
    fn latest_checkpoint(&mut self) -> Result<Option<CheckpointRow>, LedgerError>;
    fn checkpoint_at(&mut self, size: u64) -> Result<Option<CheckpointRow>, LedgerError>;
    /// Stores a checkpoint and clears the pending-checkpoint record, in one durable transaction.
    fn put_checkpoint(&mut self, row: &CheckpointRow) -> Result<(), LedgerError>;
    fn meta(&mut self, key: &str) -> Result<Option<String>, LedgerError>;
    /// Sets a meta value durably.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), LedgerError>;
}
