//! agentrail-policy: the agent inventory (`agents.toml`) and the Cedar scope policies it names.
//!
//! - [`inventory`]: the `agents.toml` format, its validation, and [`load`], which reads the file
//!   and every policy file it names.
//! - [`cedar`]: compiling policy files into one set ([`Policies`]), the policy set hash, and
//!   evaluating an agent's action or a session start against the policies. The request shape
//!   (entities, attributes, context) that users write policies against is documented there.
//! - [`state`]: what inventory and policies were in force, rebuilt from the `agentrail.policy` and
//!   `agentrail.inventory` records of the ledger, and the records that bring the ledger up to date
//!   with a loaded `agents.toml`.
//!
//! Architecture invariant: everything here is a pure function of its inputs except [`load`], which
//! reads files. No async, no database, no clock, no randomness: the same inputs always give the
//! same verdict, byte for byte.
#![forbid(unsafe_code)]

use std::path::PathBuf;

pub mod cedar;
pub mod inventory;
pub mod state;

pub use cedar::{
    policy_set_hash, ActionQuestion, Decision, Policies, SessionContext, StartQuestion, Verdict,
};
pub use inventory::{
    load, AgentEntry, Inventory, Loaded, CLASSIFICATIONS, KINDS, POLICY_MAX_BYTES, TRIGGERS,
};
pub use state::PolicyState;

/// The ledger kind of an inventory record (see [`state`]).
pub const INVENTORY_KIND: &str = "agentrail.inventory";
/// The ledger kind of a policy file record (see [`state`]).
pub const POLICY_KIND: &str = "agentrail.policy";

/// Everything that can go wrong here. Each message names the item, the field and the reason.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The inventory is not valid: bad TOML or JSON, an unknown field, a value out of its list.
    #[error("{0}")]
    Inventory(String),
    /// A policy file does not compile, is missing, or clashes with another one.
    #[error("{0}")]
    Policy(String),
    /// Reading a file failed. A missing `agents.toml` is this, with kind `NotFound`; a missing
    /// policy file is [`PolicyError::Policy`] instead, so that it is never taken for "no
    /// inventory".
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A ledger record (or persisted state, or verdict JSON) is malformed.
    #[error("{0}")]
    Record(String),
}

impl PolicyError {
    /// True when this is a missing `agents.toml` (callers treat it as "no inventory").
    pub fn is_not_found(&self) -> bool {
        matches!(self, PolicyError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Lowercase hex.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    to_hex(&sha2::Sha256::digest(bytes))
}
