//! Starting and stopping the collector: open the data directory as its one writer, refuse to run
//! open on a non-loopback address, serve until told to stop, then finish every in-flight batch,
//! sign a final checkpoint and release the directory.

use crate::auth::Auth;
use crate::body::Limits;
use crate::indexer::{Indexer, Signals};
use crate::inventory;
use crate::metrics::Metrics;
use crate::pool::ReadPool;
use crate::redact::{PolicyConfig, Redactor};
use crate::{router, AppState, Inner};
use agentrail_store::clock::{Clock, SystemClock};
use agentrail_store::ledger::{redaction_key, DataDir};
use agentrail_store::writer::{self, WriterConfig};
use agentrail_store::{Ledger, LedgerError};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// How to run the collector.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub limits: Limits,
    /// Batches that may wait for the writer before requests get 503.
    pub queue: usize,
    /// Requests parsed, sealed or committed at once before requests get 503.
    pub max_inflight: usize,
    /// A TOML file with a `[redaction]` table extending the default policy.
    pub redaction_policy: Option<PathBuf>,
    /// Requests a second per API key (429 beyond); none by default.
    pub rate_limit: Option<u32>,
    pub checkpoint_interval_ms: u64,
    /// After the stop signal, how long requests in flight may take to finish before their
    /// connections are closed (what they had queued is still committed; they are not answered).
    pub shutdown_timeout: std::time::Duration,
    /// Record every read of agent data in the log (`agentrail.access`). Only the benchmark that
    /// measures what auditing costs turns it off; the server warns loudly when it is off.
    pub audit_reads: bool,
    /// The inventory (`agents.toml`); its changes and those of the policies it names are
    /// recorded in the ledger at start and while the server runs.
    pub agents: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 4318)),
            limits: Limits::default(),
            queue: 1024,
            max_inflight: 64,
            redaction_policy: None,
            rate_limit: None,
            checkpoint_interval_ms: 1000,
            shutdown_timeout: std::time::Duration::from_secs(10),
            audit_reads: true,
            agents: None,
        }
    }
}

/// Why the collector could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let context = context.into();
    move |source| ServeError::Io { context, source }
}

/// What `DATA/server.json` holds, so the CLI on this machine can reach the running server.
pub fn server_info_json(listen: SocketAddr, admin_token: &str) -> String {
    serde_json::json!({
        "pid": std::process::id(),
        "listen": listen.to_string(),
        "admin_token": admin_token,
    })
    .to_string()
}

/// Loads the redaction policy: the defaults, extended by `path` when given.
pub fn load_redactor(data: &Path, path: Option<&Path>) -> Result<Redactor, ServeError> {
    let key = redaction_key(data)?;
    match path {
        None => Redactor::new(&key, &PolicyConfig::default()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(io(format!("reading the redaction policy {}", p.display())))?;
            Redactor::from_toml(&key, &text)
        }
    }
    .map_err(|e| ServeError::Config(format!("redaction policy: {e}")))
}

/// The threads behind a running state: the writer and the session indexer.
#[derive(Debug)]
pub struct Background {
    writer: std::thread::JoinHandle<Ledger>,
    indexer: Indexer,
}

impl Background {
    /// Stops the indexer, then waits for the writer thread to end and returns the ledger. The
    /// writer ends after [`agentrail_store::writer::Writer::stop`], or once every handle to it
    /// (every clone of the state) is dropped.
    pub fn join(self) -> Result<Ledger, ServeError> {
        self.indexer.stop();
        self.writer
            .join()
            .map_err(|_| ServeError::Config("the writer thread panicked".into()))
    }
}

/// Starts the writer thread on `ledger` (of the data directory `data`) and the session indexer,
/// and builds the handlers' state. [`Background::join`] (after stopping the writer) gives the
/// ledger back.
pub fn build_state(
    data: &Path,
    mut ledger: Ledger,
    redactor: Arc<Redactor>,
    keys: Vec<agentrail_store::backend::ApiKeyRow>,
    admin_token: Option<String>,
    opts: &ServeOptions,
) -> Result<(AppState, Background), ServeError> {
    let clock = ledger.clock();
    let verifier = ledger.verifier();
    // The inventory's changes since the ledger last saw it are recorded before anything else.
    let policy_state = match &opts.agents {
        Some(path) => {
            let (state, synced) = inventory::sync_ledger(data, &mut ledger, path, "serve")
                .map_err(|e| {
                    ServeError::Config(format!(
                        "the inventory {} does not load: {e}; fix it and start again",
                        path.display()
                    ))
                })?;
            if !synced.found {
                tracing::warn!(path = %path.display(), "no inventory file: every agent is unregistered until it exists");
            } else if synced.leaves.is_empty() {
                tracing::info!(path = %path.display(), agents = state.inventory.agents.len(), policy_set = %state.policies.hash(), "inventory loaded; unchanged since last recorded");
            } else {
                tracing::info!(path = %path.display(), changes = ?synced.summary, "recorded the inventory's changes");
            }
            state
        }
        None => inventory::recorded_state(data, &mut ledger)
            .map_err(|e| ServeError::Config(format!("reading the recorded inventory: {e}")))?,
    };
    let (writer, writer_thread) = writer::spawn(
        ledger,
        WriterConfig {
            queue: opts.queue,
            ..WriterConfig::default()
        },
    );
    let (indexed_tx, indexed_rx) = tokio::sync::watch::channel(0);
    let signals = Arc::new(Signals::default());
    let indexer = match Indexer::spawn(data, writer.tree_size_watch(), indexed_tx, signals.clone())
    {
        Ok(i) => i,
        Err(e) => {
            // Give the ledger back before failing, so the writer lock is released.
            writer.stop();
            let _ = writer_thread.join();
            return Err(io("starting the session indexer thread")(e));
        }
    };
    let state = AppState::new(Inner {
        writer,
        auth: Auth::new(
            keys,
            opts.listen.ip().is_loopback(),
            admin_token,
            opts.rate_limit,
        ),
        limits: opts.limits,
        redactor,
        metrics: Metrics::default(),
        clock,
        inflight: Arc::new(Semaphore::new(opts.max_inflight.max(1))),
        reads: ReadPool::new(data, indexed_rx, signals),
        verifier,
        audit_reads: opts.audit_reads,
        inventory: inventory::Inventory::new(opts.agents.clone(), policy_state),
    });
    Ok((
        state,
        Background {
            writer: writer_thread,
            indexer,
        },
    ))
}

/// Runs the collector until `shutdown` completes.
pub async fn run(
    data: &Path,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let what = format!("agentrail serve on {}", opts.listen);
    let mut ledger = Ledger::open(data, &what, clock.clone())?;
    ledger.set_checkpoint_interval_ms(opts.checkpoint_interval_ms);
    if !opts.audit_reads {
        // The gap in the access records is itself on the record.
        ledger.append_internal(
            "agentrail.audit",
            serde_json::json!({"reads": "off", "by": "serve --no-read-audit", "listen": opts.listen.to_string()}),
        )?;
    }
    let keys = ledger.api_keys()?;
    let active = keys.iter().filter(|k| k.revoked_at.is_none()).count();
    if active == 0 && !opts.listen.ip().is_loopback() {
        return Err(ServeError::Config(format!(
            "refusing to listen on {} without API keys: anyone who can reach it could write to the log. \
             Create a key first (`agentrail api-keys create --role ingest`), or listen on 127.0.0.1",
            opts.listen
        )));
    }
    let redactor = load_redactor(data, opts.redaction_policy.as_deref())?;
    let origin = ledger.origin().to_string();
    let vkey = ledger.verifier().to_vkey();
    let size = ledger.size();
    let mut token = [0u8; 32];
    getrandom_token(&mut token)?;
    let admin_token = format!("local_{}", agentrail_core::hash::to_hex(&token));

    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(io(format!("listening on {}", opts.listen)))?;
    let local = listener
        .local_addr()
        .map_err(io("reading the listening address"))?;
    let info_path = DataDir::new(data).server_info();
    write_private(&info_path, &server_info_json(local, &admin_token))?;

    let (state, background) = match build_state(
        data,
        ledger,
        Arc::new(redactor),
        keys,
        Some(admin_token),
        &opts,
    ) {
        Ok(built) => built,
        Err(e) => {
            let _ = std::fs::remove_file(&info_path);
            return Err(e);
        }
    };
    tracing::info!(data = %data.display(), origin = %origin, tree_size = size, "opened the ledger");
    tracing::info!(verifier_key = %vkey, "checkpoints are signed with this key");
    if !opts.audit_reads {
        tracing::warn!(
            "read auditing is OFF: reads of agent data are NOT recorded in the log (a benchmark setting; never use it in production)"
        );
    }
    if active == 0 {
        tracing::warn!(listen = %local, "no API keys exist: accepting unauthenticated requests, on loopback only");
    } else {
        tracing::info!(
            active_keys = active,
            "authentication is on: every request needs an API key"
        );
    }
    tracing::info!(listen = %local, "listening (OTLP/HTTP: POST /v1/traces; native: POST /api/v1/events)");

    let writer = state.writer.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(inventory::poll(state.clone(), stop_rx.clone()));
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let graceful =
        axum::serve(listener, router(state)).with_graceful_shutdown(stopped(stop_rx.clone()));
    let deadline = {
        let rx = stop_rx.clone();
        let timeout = opts.shutdown_timeout;
        async move {
            stopped(rx).await;
            tokio::time::sleep(timeout).await;
        }
    };
    let served = tokio::select! {
        r = std::future::IntoFuture::into_future(graceful) => r,
        () = deadline => {
            tracing::warn!(
                timeout_s = opts.shutdown_timeout.as_secs(),
                "requests still in flight after the shutdown deadline: closing their connections unanswered"
            );
            Ok(())
        }
    };
    // Every batch queued so far is committed, then the writer signs a final checkpoint and hands
    // the ledger back; dropping it releases the lock.
    // stop() waits for a place in the queue: off the async workers.
    tokio::task::spawn_blocking(move || writer.stop())
        .await
        .map_err(|e| ServeError::Config(format!("stopping the writer: {e}")))?;
    let ledger = tokio::task::spawn_blocking(move || background.join())
        .await
        .map_err(|e| ServeError::Config(format!("joining the writer: {e}")))??;
    tracing::info!(
        tree_size = ledger.size(),
        "stopped; every acknowledged event is committed"
    );
    // Removed while the lock is still held, so it never removes a successor's file.
    let _ = std::fs::remove_file(&info_path);
    drop(ledger);
    served.map_err(io("serving"))
}

fn getrandom_token(buf: &mut [u8]) -> Result<(), ServeError> {
    getrandom::fill(buf).map_err(|e| {
        ServeError::Config(format!("reading randomness for the local admin token: {e}"))
    })
}

fn write_private(path: &Path, text: &str) -> Result<(), ServeError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(io(format!("writing {}", path.display())))?;
    // A file left by a killed server keeps its old mode when reopened: set it again.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(format!("restricting {}", path.display())))?;
    }
    f.write_all(text.as_bytes())
        .map_err(io(format!("writing {}", path.display())))
}
