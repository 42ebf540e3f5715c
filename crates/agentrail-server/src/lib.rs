//! agentrail-server: the collector. The only crate that serves HTTP and decodes OTLP.
//!
//! It turns requests into validated, redacted events and hands them to the ledger's single
//! writer; it answers only after the writer reports the batch durably committed. It also serves
//! what was recorded ([`read`]): sessions from the session index, which its own thread keeps
//! level with the ledger ([`indexer`]), and events and proofs from the ledger.
//!
//! Architecture invariants:
//! - everything that writes to the ledger goes through [`agentrail_store::writer::Writer`];
//!   reads use the pooled read connections of [`pool`], only on the blocking pool, never on the
//!   async workers, and no handler opens a connection of its own;
//! - nothing is acknowledged before its durable commit;
//! - every read that shows events, sessions or access records is recorded in the ledger (an
//!   `agentrail.access` record) before it is answered, and fails with nothing returned when it
//!   cannot be;
//! - the session index is never on the append path: an indexing error delays reads, never
//!   ingest;
//! - every value is redacted before it is canonicalized, hashed or stored;
//! - request bodies are read and decompressed only through the caps in [`body::Limits`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod auth;
pub mod body;
pub mod error;
pub mod govern;
pub mod indexer;
pub mod ingest;
pub mod inventory;
pub mod metrics;
pub mod otlp;
pub mod otlp_http;
pub mod pool;
pub mod read;
pub mod redact;
pub mod serve;

use agentrail_store::clock::Clock;
use agentrail_store::writer::Writer;
use agentrail_store::{Ledger, LedgerError};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{delete, get, post};
use axum::Router;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use body::Limits;
pub use error::ApiError;

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// The shared parts of [`AppState`].
pub struct Inner {
    pub writer: Writer,
    pub auth: auth::Auth,
    pub limits: Limits,
    pub redactor: Arc<redact::Redactor>,
    pub metrics: metrics::Metrics,
    pub clock: Arc<dyn Clock>,
    /// Requests being parsed, sealed or committed at once (bounds memory under load).
    pub inflight: Arc<Semaphore>,
    /// Read connections, and how far the session index has caught up.
    pub reads: pool::ReadPool,
    /// The log's own verifier key, from the signing key this process holds: what session
    /// answers check checkpoints with, rather than the key recorded in the database.
    pub verifier: agentrail_core::note::Verifier,
    /// Whether reads of agent data are recorded in the log ([`serve::ServeOptions::audit_reads`]).
    pub audit_reads: bool,
    /// The inventory and scope policies in force.
    pub inventory: inventory::Inventory,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("writer", &self.writer)
            .field("limits", &self.limits)
            .finish()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("limits", &self.limits)
            .finish()
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// A place among the requests in flight, or 503 at once when all are taken.
    pub(crate) fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.inflight.clone().try_acquire_owned().map_err(|_| {
            self.metrics
                .requests_refused_busy
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            ApiError::Unavailable("too many requests in flight; retry later".into())
        })
    }

    /// Runs `f` as the one writer, off the async workers.
    pub(crate) async fn run_on_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Ledger) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || writer.exec(f))
            .await
            .map_err(|e| ApiError::Internal(format!("writer task failed: {e}")))??
            .map_err(ApiError::from)
    }
}

/// The HTTP surface. Documented in `docs/api.md`; OTLP in `docs/otlp.md`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/events", post(ingest::post_events))
        .route("/api/v1/events/{id}", get(read::get_event))
        .route("/api/v1/events/{id}/proof", get(read::get_proof))
        .route("/api/v1/sessions", get(read::list_sessions))
        .route("/api/v1/sessions/{id}", get(read::get_session))
        .route("/api/v1/requests/{id}", get(read::get_request))
        .route("/api/v1/resources", get(read::get_resource))
        .route("/api/v1/access", get(read::list_access))
        .route("/api/v1/checkpoint", get(read::get_checkpoint))
        .route("/api/v1/consistency", get(read::get_consistency))
        .route("/api/v1/agents", get(govern::list_agents))
        .route("/api/v1/agents/{id}", get(govern::get_agent))
        .route("/api/v1/discover", get(govern::discover))
        .route("/api/v1/assess", get(govern::assess))
        .route("/api/v1/authorize", post(govern::authorize))
        .route("/api/v1/admin/inventory/reload", post(govern::reload))
        .route("/v1/traces", post(otlp_http::post_traces))
        .route(
            "/api/v1/admin/api-keys",
            post(admin::create_key).get(admin::list_keys),
        )
        .route("/api/v1/admin/api-keys/{id}", delete(admin::revoke_key))
        .route("/api/v1/admin/checkpoint", post(admin::new_checkpoint))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no endpoint at {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}

async fn healthz(State(st): State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "status": "ok",
        "tree_size": st.writer.tree_size(),
        "queued": st.writer.queued(),
    }))
}

async fn metrics_text(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<([(axum::http::HeaderName, &'static str); 1], String), ApiError> {
    st.auth.authorize(&headers, auth::Role::Read)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(st.writer.queued(), st.writer.tree_size()),
    ))
}
