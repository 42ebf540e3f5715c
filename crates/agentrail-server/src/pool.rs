//! The read side of the server: a small pool of read connections (a ledger backend and the
//! session index), used only on the blocking pool, and the wait for the index to cover what was
//! committed when a request arrived.
//!
//! Read connections take no lock and never write to the ledger; everything that writes still
//! goes through the one writer.

use crate::error::ApiError;
use crate::indexer::Signals;
use crate::AppState;
use agentrail_index::Index;
use agentrail_store::backend::Backend;
use agentrail_store::ledger::{open_read, DataDir};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

/// Read connections open at most, and reads running at once.
pub const READ_CONNECTIONS: usize = 4;
/// How long a read waits for the index to reach the tree size it saw on arrival.
pub const INDEX_WAIT: Duration = Duration::from_secs(2);
/// How long a read waits for a free read connection.
pub const CONNECTION_WAIT: Duration = Duration::from_secs(5);

/// One read connection: the ledger, and the session index, opened when first needed (so the
/// ledger's own reads keep working while the index cannot be opened).
pub struct ReadConn {
    ledger: Box<dyn Backend>,
    index: Option<Index>,
    index_path: PathBuf,
}

impl std::fmt::Debug for ReadConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadConn")
            .field("ledger", &self.ledger.name())
            .field("index_open", &self.index.is_some())
            .finish()
    }
}

impl ReadConn {
    /// The ledger.
    pub fn ledger(&mut self) -> &mut dyn Backend {
        self.ledger.as_mut()
    }

    /// The session index and the ledger, together.
    pub fn with_index(&mut self) -> Result<(&Index, &mut dyn Backend), ApiError> {
        let index = match self.index.take() {
            Some(i) => i,
            None => Index::open(&self.index_path)?,
        };
        Ok((self.index.insert(index), self.ledger.as_mut()))
    }
}

/// The pool of read connections and the indexer's progress.
#[derive(Debug)]
pub struct ReadPool {
    data: PathBuf,
    idle: Mutex<Vec<ReadConn>>,
    slots: Arc<Semaphore>,
    indexed: watch::Receiver<u64>,
    indexer: Arc<Signals>,
}

impl ReadPool {
    /// Connections to the data directory `data` are opened when first needed. `indexed` is the
    /// indexer's count of indexed leaves; `indexer` is how a read asks it to catch up now.
    pub fn new(data: &Path, indexed: watch::Receiver<u64>, indexer: Arc<Signals>) -> ReadPool {
        ReadPool {
            data: data.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(READ_CONNECTIONS)),
            indexed,
            indexer,
        }
    }

    /// Leaves the session index holds.
    pub fn indexed(&self) -> u64 {
        *self.indexed.borrow()
    }

    /// Waits until the index holds the first `size` leaves: 503 when it does not within
    /// [`INDEX_WAIT`], or when the indexer has stopped.
    pub async fn wait_indexed(&self, size: u64) -> Result<(), ApiError> {
        if self.indexed() >= size {
            return Ok(());
        }
        self.indexer.want(size);
        let mut rx = self.indexed.clone();
        let reached = tokio::time::timeout(INDEX_WAIT, async {
            rx.wait_for(|n| *n >= size).await.map(|_| ())
        })
        .await;
        match reached {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(ApiError::Unavailable(
                "the session indexer has stopped; the server is shutting down".into(),
            )),
            Err(_) => Err(ApiError::Unavailable(format!(
                "the session index is behind the log ({} of {size} leaves indexed after {} s); retry shortly",
                self.indexed(),
                INDEX_WAIT.as_secs()
            ))),
        }
    }

    fn take(&self) -> Result<ReadConn, ApiError> {
        let idle = self
            .idle
            .lock()
            .map_err(|_| ApiError::Internal("the read connection pool lock is poisoned".into()))?
            .pop();
        match idle {
            Some(c) => Ok(c),
            None => Ok(ReadConn {
                ledger: open_read(&self.data)?,
                index: None,
                index_path: DataDir::new(&self.data).index(),
            }),
        }
    }

    fn give(&self, conn: ReadConn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}

impl AppState {
    /// Runs `f` on a pooled read connection, on the blocking pool. Waits up to
    /// [`CONNECTION_WAIT`] for a free connection, then answers 503.
    pub(crate) async fn on_read_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut ReadConn) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = tokio::time::timeout(CONNECTION_WAIT, self.reads.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                ApiError::Unavailable(format!(
                    "all {READ_CONNECTIONS} read connections stayed busy for {} s; retry later",
                    CONNECTION_WAIT.as_secs()
                ))
            })?
            .map_err(|_| ApiError::Unavailable("the server is shutting down; retry".into()))?;
        let st = self.clone();
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut conn = st.reads.take()?;
            let out = f(&mut conn);
            st.reads.give(conn);
            out
        })
        .await
        .map_err(|e| ApiError::Internal(format!("read task failed: {e}")))?
    }
}
