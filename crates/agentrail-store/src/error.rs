//! The ledger's errors. Each says what to do; the binary maps them to exit codes: integrity
//! problems to 1, everything that is the environment's fault (I/O, a lock, a missing directory) to 2.

use std::path::PathBuf;

/// What went wrong in the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    #[error("no agentrail data directory at {0}: run `agentrail init` first (or pass --data)")]
    NotInitialized(PathBuf),
    #[error("{0} is already an agentrail data directory; refusing to overwrite it")]
    AlreadyInitialized(PathBuf),
    #[error("data directory {dir} is being written by {holder}; stop it or send your request through it")]
    Locked { dir: PathBuf, holder: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Database(rusqlite::Error),
    #[error("store is corrupt: {0}; run `agentrail verify` for a full report")]
    Corrupt(String),
    #[error("refusing to sign: {0}")]
    RefuseToSign(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("signing key: {0}")]
    Key(String),
    #[error("the write queue is full; retry later")]
    QueueFull,
    #[error("the writer has stopped")]
    WriterStopped,
    #[error("the writer did not answer within {0:?}; retry later")]
    Busy(std::time::Duration),
}

impl LedgerError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LedgerError::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the log itself is at fault (tampering, a fork), not the environment.
    pub fn is_integrity(&self) -> bool {
        matches!(self, LedgerError::Corrupt(_) | LedgerError::RefuseToSign(_))
    }
}

impl From<rusqlite::Error> for LedgerError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            // A stored value of the wrong type or shape was put there behind the ledger's back:
            // that is the log's fault, not the environment's.
            rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::FromSqlConversionFailure(..) => {
                LedgerError::Corrupt(format!("a stored value has the wrong type or size: {e}"))
            }
            e => LedgerError::Database(e),
        }
    }
}
