//! Exit codes, and which errors mean "invalid" (1) rather than "could not run" (2).

use agentrail_index::IndexError;
use agentrail_store::LedgerError;
use std::process::ExitCode;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Invalid = 1,
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An error that says its own exit code: the input or log is invalid.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// Integrity problems, invalid input and what is not there exit 1; everything else, a bad
/// argument among it, 2.
pub fn code_for(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.downcast_ref::<InvalidInput>().is_some() {
            return Exit::Invalid;
        }
        match cause.downcast_ref::<IndexError>() {
            Some(IndexError::Ledger(le)) => return ledger_code(le),
            Some(IndexError::Database(_) | IndexError::Invalid { .. }) => return Exit::Usage,
            Some(_) => return Exit::Invalid,
            None => {}
        }
        let ledger =
            cause.downcast_ref::<LedgerError>().or_else(|| match cause
                .downcast_ref::<agentrail_server::serve::ServeError>(
            ) {
                Some(agentrail_server::serve::ServeError::Ledger(le)) => Some(le),
                _ => None,
            });
        if let Some(le) = ledger {
            return ledger_code(le);
        }
    }
    Exit::Usage
}

fn ledger_code(le: &LedgerError) -> Exit {
    match le {
        LedgerError::NotFound(_) => Exit::Invalid,
        e if e.is_integrity() => Exit::Invalid,
        _ => Exit::Usage,
    }
}
