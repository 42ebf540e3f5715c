//! The collector the demo plays its scenario through: `agentrail serve` run in this process on a
//! port the kernel picks, and a small HTTP client for its two ingest endpoints. Every event
//! therefore reaches the log as an agent's would: redacted, validated, sealed (source `api` or
//! `otlp`) and committed by the server, never written to the store by the demo itself.

use agentrail_server::otlp_http::RpcStatus;
use agentrail_server::serve::{run as serve_run, ServeError, ServeOptions};
use agentrail_store::ledger::DataDir;
use agentrail_store::LedgerError;
use anyhow::{anyhow, bail, Context, Result};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

/// How long the collector may take to start listening.
const STARTUP: Duration = Duration::from_secs(30);
/// How long one request may take, from connecting to the last byte of the answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the collector on `data` while `play` talks to it, then stops it. When this returns, the
/// server has committed everything it acknowledged, signed a final checkpoint and released the
/// data directory.
pub fn with_collector<T>(data: &Path, play: impl FnOnce(&Client) -> Result<T>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let runtime = &runtime;
    let opts = ServeOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        agents: Some(data.join("agents.toml")),
        ..ServeOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::scope(|scope| {
        let server = scope.spawn(move || {
            runtime.block_on(serve_run(data, opts, async move {
                let _ = stopped.await;
            }))
        });
        let played = Client::connect(data, &server).and_then(|client| play(&client));
        let _ = stop.send(());
        let served = server
            .join()
            .map_err(|_| anyhow!("the demo's collector panicked"))?;
        // The server's own error comes first: it is why the client could not reach it.
        served.map_err(|e| explain(data, e))?;
        played
    })
}

/// The collector's error, with what to do when another writer holds the data directory.
fn explain(data: &Path, e: ServeError) -> anyhow::Error {
    let locked = matches!(e, ServeError::Ledger(LedgerError::Locked { .. }));
    let e = anyhow::Error::from(e);
    if locked {
        e.context(format!(
            "agentrail demo sends its events through a collector of its own, which needs {} to \
             itself: stop the process that holds it, or pass another --data",
            data.display()
        ))
    } else {
        e.context(format!(
            "running the demo's collector on {}",
            data.display()
        ))
    }
}

/// What the collector did with one native event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Appended,
    Duplicate,
}

/// The running collector's address and local admin token (the key every request carries, so
/// the demo works on a data directory that has API keys as well).
#[derive(Debug)]
pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// Waits until the collector in this process has written `DATA/server.json`, or has stopped.
    fn connect(
        data: &Path,
        server: &ScopedJoinHandle<'_, Result<(), ServeError>>,
    ) -> Result<Client> {
        let info_path = DataDir::new(data).server_info();
        let deadline = Instant::now() + STARTUP;
        loop {
            if server.is_finished() {
                bail!("the demo's collector stopped before it was listening");
            }
            // A file left by another process (a killed server) names another pid: not ours.
            let info = std::fs::read_to_string(&info_path)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .filter(|info| info["pid"].as_u64() == Some(u64::from(std::process::id())));
            if let Some(info) = info {
                let listen = info["listen"]
                    .as_str()
                    .with_context(|| format!("{} names no listen address", info_path.display()))?;
                let token = info["admin_token"]
                    .as_str()
                    .with_context(|| format!("{} holds no admin token", info_path.display()))?;
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(REQUEST_TIMEOUT))
                    .build()
                    .into();
                return Ok(Client {
                    base: format!("http://{listen}"),
                    token: token.to_string(),
                    agent,
                });
            }
            if Instant::now() > deadline {
                bail!(
                    "the demo's collector did not start listening within {}s",
                    STARTUP.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `host:port` the collector listens on.
    pub fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The size of the log after the collector's last commit (`GET /healthz`).
    pub fn tree_size(&self) -> Result<u64> {
        let mut resp = self
            .agent
            .get(format!("{}/healthz", self.base))
            .call()
            .with_context(|| format!("asking the collector at {} for its health", self.base))?;
        let health: Value = resp
            .body_mut()
            .read_json()
            .context("reading the collector's health")?;
        health["tree_size"]
            .as_u64()
            .with_context(|| format!("the collector's health has no tree size: {health}"))
    }

    /// `POST /api/v1/events` with NDJSON: one result per line, in order, each the stored outcome
    /// or the collector's reason for rejecting the line (`code: field F: message`).
    pub fn post_events(&self, ndjson: &str, what: &str) -> Result<Vec<Result<Stored, String>>> {
        let resp = self
            .agent
            .post(format!("{}/api/v1/events", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/x-ndjson")
            .send(ndjson.as_bytes())
            .with_context(|| format!("sending {what} to the collector at {}", self.base))?;
        let answer = Self::json_answer(resp, what)?;
        let results = answer["results"].as_array().with_context(|| {
            format!("the collector's answer to {what} has no results: {answer}")
        })?;
        Ok(results
            .iter()
            .map(|r| match &r["error"] {
                Value::Null if r["duplicate"] == Value::Bool(true) => Ok(Stored::Duplicate),
                Value::Null => Ok(Stored::Appended),
                e => Err(format!(
                    "{}: field {}: {}",
                    e["code"].as_str().unwrap_or("?"),
                    e["field"].as_str().filter(|f| !f.is_empty()).unwrap_or("-"),
                    e["message"].as_str().unwrap_or("?")
                )),
            })
            .collect())
    }

    fn json_answer(mut resp: ureq::http::Response<ureq::Body>, what: &str) -> Result<Value> {
        let status = resp.status();
        let body = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the collector's answer to {what}"))?;
        if !status.is_success() {
            bail!("the collector refused {what} ({status}): {body}");
        }
        serde_json::from_str(&body)
            .with_context(|| format!("the collector's answer to {what} is not JSON: {body}"))
    }

    /// `POST /v1/traces` with binary protobuf, as an OpenTelemetry exporter sends it. Every span
    /// must be accepted (appended or a duplicate); a partial success names what was rejected.
    pub fn post_traces(&self, request: &ExportTraceServiceRequest, what: &str) -> Result<()> {
        let mut resp = self
            .agent
            .post(format!("{}/v1/traces", self.base))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/x-protobuf")
            .send(&request.encode_to_vec()[..])
            .with_context(|| format!("exporting {what} to the collector at {}", self.base))?;
        let status = resp.status();
        let body = resp
            .body_mut()
            .read_to_vec()
            .with_context(|| format!("reading the collector's answer to {what}"))?;
        if !status.is_success() {
            let message = RpcStatus::decode(&body[..])
                .map(|s| s.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            bail!("the collector refused {what} ({status}): {message}");
        }
        let answer = ExportTraceServiceResponse::decode(&body[..])
            .with_context(|| format!("decoding the collector's answer to {what}"))?;
        match answer.partial_success {
            Some(p) if p.rejected_spans > 0 || !p.error_message.is_empty() => bail!(
                "the collector rejected {} spans of {what}: {}",
                p.rejected_spans,
                p.error_message
            ),
            _ => Ok(()),
        }
    }
}
