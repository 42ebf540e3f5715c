//! agentrail-store: the ledger, the only path by which anything is appended to agentrail's log.
//!
//! [`Ledger`] owns the data directory (signing key, lock file, database), validates nothing itself
//! (events arrive already validated by `agentrail-core`), and turns batches of events into durable
//! leaves, tiles of Merkle hashes and signed checkpoints. [`verify`] re-derives everything from the
//! stored leaves and reports every disagreement.
//!
//! Architecture invariants:
//! - an append is acknowledged only after the transaction that holds it has been durably committed
//!   (`synchronous=FULL`); nothing is held in memory on behalf of a caller after it returns;
//! - the database is reached only through [`backend::Backend`], so a second backend (PostgreSQL)
//!   slots in behind the same conformance suite;
//! - a checkpoint's size and root are persisted before they are signed, and a new checkpoint is
//!   signed only after the tree is checked consistent with the previous one.
#![forbid(unsafe_code)]

pub mod apikeys;
pub mod backend;
pub mod clock;
mod error;
pub mod ledger;
pub mod lock;
pub mod sqlite;
pub mod tiles;
pub mod verify;
pub mod writer;

pub use error::LedgerError;
pub use ledger::{prepare, AppendOutcome, DataDir, InitOptions, Ledger, Prepared, ReadLedger};
