//! The data directory's writer lock: one process writes at a time, and the others learn which.
//!
//! The lock is an advisory `flock`-style lock on `DATA/lock`, held for the life of the writer and
//! released by the kernel when the process exits, even on SIGKILL, so a crash never leaves a stale
//! lock behind. The file's text names the holder (`process <pid> (<what>)`) for the message the
//! next writer prints.

use crate::LedgerError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// A held writer lock; dropping it releases the lock.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir`, or says who holds it. `what` describes this writer
    /// (for example "agentrail ingest").
    pub fn acquire(dir: &Path, what: &str) -> Result<DirLock, LedgerError> {
        let path = dir.join("lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| LedgerError::io(format!("opening {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LedgerError::Locked {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "another process".to_string()
                    } else {
                        holder.replace('\n', ", ")
                    },
                });
            }
            Err(TryLockError::Error(e)) => {
                return Err(LedgerError::io(format!("locking {}", path.display()), e))
            }
        }
        let text = format!("process {} ({what})\n", std::process::id());
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(text.as_bytes())?;
            file.flush()
        };
        write(&mut file).map_err(|e| LedgerError::io(format!("writing {}", path.display()), e))?;
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_writer_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path(), "agentrail serve").unwrap();
        let err = DirLock::acquire(dir.path(), "agentrail ingest").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("process {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains("agentrail serve"), "{msg}");
        drop(held);
        DirLock::acquire(dir.path(), "agentrail ingest").unwrap();
    }
}
