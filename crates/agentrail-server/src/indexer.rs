//! The session indexer of a running server: one thread that keeps `DATA/index.sqlite` level with
//! the ledger, off the append path.
//!
//! It owns an [`Index`] and a read connection to the ledger, waits for the writer to publish a
//! larger tree ([`TreeSize`]), and calls [`Index::catch_up`], which reads only leaves the writer
//! has already committed. After each catch-up it publishes how many leaves are indexed, so read
//! handlers can wait until the index covers what was committed when their request arrived.
//!
//! After a quiet spell it catches up at once after a commit. While commits keep coming it
//! gathers them for up to [`BATCH`] per catch-up, because one catch-up of many commits costs far
//! less than one per commit (each writes the index pages it touches once); a reader waiting for
//! the index ([`Signals::want`]) cuts that wait short. An error is logged and retried with a
//! growing pause (the connections are reopened); it never reaches the writer or an ingest
//! request.

use agentrail_index::{CatchUp, Index, IndexError};
use agentrail_store::backend::Backend;
use agentrail_store::ledger::{open_read, DataDir};
use agentrail_store::writer::TreeSize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The longest a commit waits to be indexed while commits keep coming and no reader waits.
pub const BATCH: Duration = Duration::from_millis(250);
/// How often the thread looks at its stop flag while the tree does not grow.
const IDLE_WAKE: Duration = Duration::from_millis(50);
/// The pause after a first failure; doubled after each further one, up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// What the indexer thread is asked: to catch up now because a reader waits, or to stop.
#[derive(Debug, Default)]
pub struct Signals {
    asked: Mutex<Asked>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Asked {
    /// The largest tree size a reader waits for the index to reach.
    wanted: u64,
    stop: bool,
}

impl Signals {
    fn asked(&self) -> MutexGuard<'_, Asked> {
        // The state is two plain values: a panic elsewhere cannot leave it inconsistent.
        self.asked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reader waits for the index to hold `size` leaves: catch up now rather than after the
    /// rest of [`BATCH`].
    pub fn want(&self, size: u64) {
        let mut a = self.asked();
        if size > a.wanted {
            a.wanted = size;
            self.changed.notify_all();
        }
    }

    fn stop(&self) {
        self.asked().stop = true;
        self.changed.notify_all();
    }

    fn stopping(&self) -> bool {
        self.asked().stop
    }

    /// Sleeps for `d`, or less when asked to stop or when a reader wants more than `through`
    /// leaves indexed.
    fn sleep(&self, d: Duration, through: u64) {
        let deadline = Instant::now() + d;
        let mut a = self.asked();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if a.stop || a.wanted > through || left.is_zero() {
                return;
            }
            a = match self.changed.wait_timeout(a, left) {
                Ok((a, _)) => a,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// The indexer thread. Stop it with [`Indexer::stop`]; dropping it only asks it to stop.
#[derive(Debug)]
pub struct Indexer {
    signals: Arc<Signals>,
    thread: Option<JoinHandle<()>>,
}

/// The open connections of the indexer.
struct Conns {
    index: Index,
    ledger: Box<dyn Backend>,
}

impl Indexer {
    /// Starts the thread over the data directory `data`. It catches up at once, then after the
    /// commits `tree` reports; `indexed` receives the number of leaves indexed after each
    /// catch-up; readers ask for an early catch-up through `signals`.
    pub fn spawn(
        data: &Path,
        tree: TreeSize,
        indexed: watch::Sender<u64>,
        signals: Arc<Signals>,
    ) -> std::io::Result<Indexer> {
        let data = data.to_path_buf();
        let s = signals.clone();
        let thread = std::thread::Builder::new()
            .name("agentrail-indexer".into())
            .spawn(move || run(&data, &tree, &indexed, &s))?;
        Ok(Indexer {
            signals,
            thread: Some(thread),
        })
    }

    /// Stops the thread after the catch-up in progress (if any) and waits for it.
    pub fn stop(mut self) {
        self.signals.stop();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the session indexer thread panicked");
            }
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.signals.stop();
    }
}

fn open(data: &Path) -> Result<Conns, IndexError> {
    Ok(Conns {
        ledger: open_read(data)?,
        index: Index::open(&DataDir::new(data).index())?,
    })
}

/// One catch-up, opening the connections first when they are not open. They are kept only
/// when it succeeds: after an error the next attempt reopens them.
fn step(data: &Path, conns: &mut Option<Conns>) -> Result<CatchUp, IndexError> {
    let mut c = match conns.take() {
        Some(c) => c,
        None => open(data)?,
    };
    let done = c.index.catch_up(c.ledger.as_mut())?;
    *conns = Some(c);
    Ok(done)
}

fn run(data: &Path, tree: &TreeSize, indexed: &watch::Sender<u64>, signals: &Signals) {
    let path: PathBuf = DataDir::new(data).index();
    let mut conns: Option<Conns> = None;
    let mut through: Option<u64> = None;
    let mut retry = FIRST_RETRY;
    while !signals.stopping() {
        let started = Instant::now();
        // A panic in one catch-up must not end indexing for the life of the server: the
        // connections it used are dropped and the next attempt starts afresh.
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(data, &mut conns)))
                .unwrap_or_else(|_| Err(IndexError::Corrupt("a catch-up panicked".into())));
        match result {
            Ok(done) => {
                if through.is_none() || done.rebuilt {
                    tracing::info!(
                        index = %path.display(),
                        indexed = done.through,
                        rebuilt = done.rebuilt,
                        "the session index is level with the log"
                    );
                } else if retry > FIRST_RETRY {
                    tracing::info!(indexed = done.through, "session indexing resumed");
                }
                retry = FIRST_RETRY;
                through = Some(done.through);
                indexed.send_replace(done.through);
                // Until the writer commits past what is indexed, waking now and then to look
                // at the stop flag; then gather further commits for the rest of BATCH.
                while !signals.stopping()
                    && tree.wait_beyond(done.through, IDLE_WAKE) <= done.through
                {}
                signals.sleep(BATCH.saturating_sub(started.elapsed()), done.through);
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    index = %path.display(),
                    retry_ms = retry.as_millis() as u64,
                    "session indexing failed; reads that need the index wait or answer 503 until it recovers"
                );
                // Waiting readers do not shorten the pause: they would only hammer the failure.
                signals.sleep(retry, u64::MAX);
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }
}
