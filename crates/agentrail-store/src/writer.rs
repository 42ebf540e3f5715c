//! One writer thread with group commit.
//!
//! Every append in a process goes through one thread that owns the [`Ledger`]. Callers queue
//! batches; the thread takes everything queued (up to a cap), commits it in one durable
//! transaction, and only then answers each caller. Under load many callers share one fsync;
//! when idle a lone batch commits at once. The queue is bounded: when it is full, callers are
//! told so at once ([`LedgerError::QueueFull`]) rather than being accepted and later dropped.
//!
//! The tree size is published after every commit ([`TreeSize`]); threads that derive data from
//! the log (the server's session indexer) wait on it instead of polling the database.

use crate::backend::CheckpointRow;
use crate::clock::Clock;
use crate::ledger::{prepare, AppendOutcome, Ledger, Prepared};
use crate::LedgerError;
use agentrail_core::event::ValidEvent;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Called once with the outcome of a submitted batch, after its commit is durable (or failed).
pub type Reply = Box<dyn FnOnce(Result<Vec<AppendOutcome>, LedgerError>) + Send>;

/// Sends a job's result to its caller.
type Answer = Box<dyn FnOnce() + Send>;

enum Job {
    Append {
        batch: Prepared,
        reply: Reply,
    },
    Checkpoint(mpsc::Sender<Result<CheckpointRow, LedgerError>>),
    /// Anything else that must run as the one writer (API keys, internal records). It returns
    /// the answer to its caller, sent only once the new tree size is published.
    Exec(Box<dyn FnOnce(&mut Ledger) -> Answer + Send>),
    /// Stop after everything queued before this; later jobs are refused.
    Stop,
}

/// Tuning of the writer thread.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Batches that may wait in the queue.
    pub queue: usize,
    /// Events committed together at most.
    pub max_group_events: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            queue: 1024,
            max_group_events: 50_000,
        }
    }
}

/// A handle to the writer thread; cloneable, shareable across threads.
#[derive(Clone)]
pub struct Writer {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    size: TreeSize,
    clock: Arc<dyn Clock>,
}

/// The tree size after the last commit, as the writer publishes it, and a way to wait for it to
/// grow. Cloning it does not keep the writer alive (unlike a [`Writer`] handle).
#[derive(Clone)]
pub struct TreeSize {
    inner: Arc<Published>,
}

#[derive(Default)]
struct Published {
    size: AtomicU64,
    /// The tree size after the last commit that appended a client event (a kind not starting
    /// with `agentrail.`): what a reader of sessions must see indexed, without waiting for the
    /// log's own records (a read's access record) to be indexed too.
    client: AtomicU64,
    /// Held only to pair a waiter's check with the writer's wake-up, so no wake-up is lost.
    lock: Mutex<()>,
    grew: Condvar,
}

impl std::fmt::Debug for TreeSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TreeSize").field(&self.get()).finish()
    }
}

impl TreeSize {
    fn new(size: u64) -> TreeSize {
        let inner = Published::default();
        inner.size.store(size, Ordering::SeqCst);
        inner.client.store(size, Ordering::SeqCst);
        TreeSize {
            inner: Arc::new(inner),
        }
    }

    /// The tree size after the last commit.
    pub fn get(&self) -> u64 {
        self.inner.size.load(Ordering::SeqCst)
    }

    /// The tree size after the last commit that appended a client event; never above
    /// [`TreeSize::get`].
    pub fn client(&self) -> u64 {
        self.inner.client.load(Ordering::SeqCst)
    }

    /// Blocks until the tree size is larger than `seen` or `timeout` has passed, and returns the
    /// tree size then.
    pub fn wait_beyond(&self, seen: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        // A poisoned lock guards no data: waiting on it is still sound.
        let mut guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = self.get();
            let left = deadline.saturating_duration_since(Instant::now());
            if now > seen || left.is_zero() {
                return now;
            }
            guard = match self.inner.grew.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Publishes a new size; wakes the waiters when it changed. One uncontended lock per group
    /// commit, never per event.
    fn publish(&self, size: u64) {
        if self.inner.size.swap(size, Ordering::SeqCst) != size {
            drop(self.inner.lock.lock().unwrap_or_else(|p| p.into_inner()));
            self.inner.grew.notify_all();
        }
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.queued())
            .finish()
    }
}

/// Starts the writer thread. Dropping every [`Writer`] handle stops it after the queued work is
/// committed; join the handle to get the ledger back.
pub fn spawn(ledger: Ledger, config: WriterConfig) -> (Writer, JoinHandle<Ledger>) {
    let (tx, rx) = mpsc::sync_channel(config.queue.max(1));
    let depth = Arc::new(AtomicUsize::new(0));
    let d = depth.clone();
    let clock = ledger.clock();
    let size = TreeSize::new(ledger.size());
    let s = size.clone();
    let handle = std::thread::Builder::new()
        .name("agentrail-writer".into())
        .spawn(move || run(ledger, rx, d, s, config))
        .expect("spawning the writer thread");
    (
        Writer {
            tx,
            depth,
            size,
            clock,
        },
        handle,
    )
}

impl Writer {
    /// Queues a batch sealed by [`prepare`] on the caller's thread (so sealing runs in parallel
    /// and the writer only commits); `reply` is called after its durable commit. Fails at once
    /// with `QueueFull` when the queue is full.
    pub fn submit(&self, batch: Prepared, reply: Reply) -> Result<(), LedgerError> {
        self.depth.fetch_add(1, Ordering::SeqCst);
        let job = Job::Append { batch, reply };
        match self.tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                Err(LedgerError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.depth.fetch_sub(1, Ordering::SeqCst);
                Err(LedgerError::WriterStopped)
            }
        }
    }

    /// Seals on this thread, appends, and waits for the durable commit.
    pub fn append(
        &self,
        events: &[ValidEvent],
        source: &str,
    ) -> Result<Vec<AppendOutcome>, LedgerError> {
        let batch = prepare(events, source, self.clock.as_ref())?;
        let (tx, rx) = mpsc::channel();
        self.submit(
            batch,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        rx.recv().map_err(|_| LedgerError::WriterStopped)?
    }

    /// Signs a checkpoint of everything committed so far (if the tree grew) and returns it.
    pub fn checkpoint_now(&self) -> Result<CheckpointRow, LedgerError> {
        let (tx, rx) = mpsc::channel();
        self.tx.try_send(Job::Checkpoint(tx)).map_err(|e| match e {
            TrySendError::Full(_) => LedgerError::QueueFull,
            TrySendError::Disconnected(_) => LedgerError::WriterStopped,
        })?;
        rx.recv().map_err(|_| LedgerError::WriterStopped)?
    }

    /// [`Writer::checkpoint_now`], giving up (`Busy`) after `timeout`: for callers that must not
    /// wait on a busy writer without bound, such as a read request. The checkpoint is still
    /// signed when the writer gets to it.
    pub fn checkpoint_within(&self, timeout: Duration) -> Result<CheckpointRow, LedgerError> {
        let (tx, rx) = mpsc::channel();
        self.tx.try_send(Job::Checkpoint(tx)).map_err(|e| match e {
            TrySendError::Full(_) => LedgerError::QueueFull,
            TrySendError::Disconnected(_) => LedgerError::WriterStopped,
        })?;
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(RecvTimeoutError::Timeout) => Err(LedgerError::Busy(timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(LedgerError::WriterStopped),
        }
    }

    /// Runs `f` on the writer thread, after everything queued before it, and returns its result.
    pub fn exec<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ledger) -> T + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (tx, rx) = mpsc::channel();
        self.tx
            .try_send(Job::Exec(Box::new(move |ledger| {
                let out = f(ledger);
                Box::new(move || {
                    let _ = tx.send(out);
                })
            })))
            .map_err(|e| match e {
                TrySendError::Full(_) => LedgerError::QueueFull,
                TrySendError::Disconnected(_) => LedgerError::WriterStopped,
            })?;
        rx.recv().map_err(|_| LedgerError::WriterStopped)
    }

    /// Stops the writer after everything queued so far is committed, even while other handles
    /// exist; jobs queued after this are dropped unanswered (their callers see the writer
    /// stopped, and nothing of theirs was acknowledged). Join the thread to get the ledger.
    pub fn stop(&self) {
        let _ = self.tx.send(Job::Stop);
    }

    /// The tree size after the last commit.
    pub fn tree_size(&self) -> u64 {
        self.size.get()
    }

    /// The tree size after the last commit that appended a client event (not an `agentrail.*`
    /// record): what the session index must hold for a reader to see every session so far.
    pub fn client_tree_size(&self) -> u64 {
        self.size.client()
    }

    /// The published tree size, to wait on for commits without holding the writer open.
    pub fn tree_size_watch(&self) -> TreeSize {
        self.size.clone()
    }

    /// Batches waiting in the queue.
    pub fn queued(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }
}

fn run(
    mut ledger: Ledger,
    rx: Receiver<Job>,
    depth: Arc<AtomicUsize>,
    size: TreeSize,
    config: WriterConfig,
) -> Ledger {
    let tick = Duration::from_millis(200);
    let mut pending: Option<Job> = None;
    let mut stopping = false;
    while !stopping {
        let first = match pending.take() {
            Some(job) => job,
            None => match rx.recv_timeout(tick) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = ledger.maybe_checkpoint();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            },
        };
        // Gather appends into one group; any other job ends the group and runs after it, so
        // jobs take effect in the order they were queued.
        let mut appends = Vec::new();
        let mut events = 0usize;
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append { batch, reply } => {
                    depth.fetch_sub(1, Ordering::SeqCst);
                    events += batch.events.len();
                    appends.push((batch, reply));
                    if events < config.max_group_events {
                        next = rx.try_recv().ok();
                    }
                }
                Job::Stop if appends.is_empty() => stopping = true,
                other => {
                    if appends.is_empty() {
                        run_other(&mut ledger, other, &size);
                    } else {
                        pending = Some(other);
                    }
                }
            }
        }
        commit_group(&mut ledger, appends, &size);
        let _ = ledger.maybe_checkpoint();
    }
    // Everything queued was committed above; seal it with a final checkpoint.
    if ledger.size() > 0 {
        let _ = ledger.checkpoint_now();
    }
    ledger
}

fn run_other(ledger: &mut Ledger, job: Job, size: &TreeSize) {
    match job {
        Job::Checkpoint(tx) => {
            let _ = tx.send(ledger.checkpoint_now());
        }
        Job::Exec(f) => {
            let answer = f(ledger);
            // Published before the caller hears back, as for appends: whoever was answered
            // finds what it wrote in the published size.
            size.publish(ledger.size());
            answer();
        }
        Job::Append { .. } | Job::Stop => unreachable!("handled by the caller"),
    }
}

fn commit_group(ledger: &mut Ledger, appends: Vec<(Prepared, Reply)>, size: &TreeSize) {
    if appends.is_empty() {
        return;
    }
    let (batches, replies): (Vec<Prepared>, Vec<Reply>) = appends.into_iter().unzip();
    let client = |b: &Prepared| {
        b.events.iter().any(|e| {
            !e.row
                .kind
                .starts_with(agentrail_core::event::INTERNAL_PREFIX)
        })
    };
    let result = ledger.append_prepared(&batches);
    // Published before anyone is answered, so an answer never reports an older size.
    if batches.iter().any(client) {
        size.inner.client.store(ledger.size(), Ordering::SeqCst);
    }
    size.publish(ledger.size());
    match result {
        Ok(outcomes) => {
            for (reply, out) in replies.into_iter().zip(outcomes) {
                reply(Ok(out));
            }
        }
        Err(_) if batches.len() > 1 => {
            // One caller's batch may be at fault; commit each alone so every caller gets its
            // own answer and nobody's good batch is failed by another's.
            for (batch, reply) in batches.into_iter().zip(replies) {
                let r = ledger
                    .append_prepared(std::slice::from_ref(&batch))
                    .map(|mut o| o.pop().unwrap_or_default());
                if client(&batch) {
                    size.inner.client.store(ledger.size(), Ordering::SeqCst);
                }
                size.publish(ledger.size());
                reply(r);
            }
        }
        Err(e) => {
            if let Some(reply) = replies.into_iter().next() {
                reply(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_wakes_when_the_size_grows_and_not_before() {
        let size = TreeSize::new(3);
        // Nothing grows: the wait ends at its timeout with the same size.
        assert_eq!(size.wait_beyond(3, Duration::from_millis(20)), 3);
        // Already beyond: no wait at all.
        assert_eq!(size.wait_beyond(2, Duration::from_secs(3600)), 3);
        let waiter = {
            let size = size.clone();
            std::thread::spawn(move || size.wait_beyond(3, Duration::from_secs(3600)))
        };
        // Publishing the same size wakes nobody; a larger one wakes the waiter.
        size.publish(3);
        size.publish(5);
        assert_eq!(waiter.join().expect("the waiter"), 5);
        assert_eq!(size.get(), 5);
    }
}
