//! agentrail-index: the session index, and the reconstruction of one agent run from the ledger.
//!
//! The index ([`db::Index`], `DATA/index.sqlite`) answers "which runs" questions: session lists
//! by agent, initiator, trigger, status, time, system, resource, request or conversation id;
//! every event that touched a resource; who read what. Reconstruction ([`view`]) answers "what
//! did this run do and why": every event of one session read from the ledger, in order, in the
//! four layers, decisions linked to the actions that followed, each event's inclusion in a
//! signed checkpoint verified.
//!
//! Architecture invariants:
//! - the index is derived data: it is never written on the ledger's append path, everything in
//!   it can be rebuilt from the ledger's leaves alone, and losing it loses nothing;
//! - what an answer shows of an event comes from the ledger's bytes, never from the index: the
//!   index only says where to look;
//! - `agentrail.*` records never form sessions; `agentrail.access` records are indexed as reads.
#![forbid(unsafe_code)]

pub mod assess;
pub mod db;
pub mod discover;
pub mod extract;
pub mod policy;
pub mod query;
pub mod session;
pub mod text;
pub mod view;

pub use db::{CatchUp, Index};
pub use query::{Page, SessionFilter};
pub use session::Session;

use agentrail_store::LedgerError;

/// What went wrong reading or building the index.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("index database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Corrupt(String),
}
