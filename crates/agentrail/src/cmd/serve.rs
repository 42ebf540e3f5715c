//! `agentrail serve`: runs the collector until SIGTERM or SIGINT, then shuts down gracefully.

use crate::cli::ServeArgs;
use crate::exit::Exit;
use agentrail_server::serve::{run as serve_run, ServeOptions};
use agentrail_server::Limits;
use anyhow::{Context, Result};
use std::path::Path;

pub fn run(data: &Path, a: &ServeArgs, inventory: &Path) -> Result<Exit> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENTRAIL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let opts = ServeOptions {
        listen: a.listen,
        limits: Limits {
            max_body_bytes: a.max_body_bytes,
            max_decompressed_bytes: a.max_decompressed_bytes,
            max_events_per_request: a.max_events_per_request,
            max_event_bytes: a.max_event_bytes,
            body_timeout: std::time::Duration::from_secs(a.body_timeout_secs),
        },
        queue: a.queue,
        max_inflight: a.max_inflight,
        redaction_policy: a.redaction.clone(),
        rate_limit: a.rate_limit,
        checkpoint_interval_ms: a.checkpoint_interval_ms,
        shutdown_timeout: std::time::Duration::from_secs(a.shutdown_timeout_secs),
        audit_reads: !a.no_read_audit,
        agents: Some(inventory.to_path_buf()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve_run(data, opts, shutdown_signal()))?;
    Ok(Exit::Success)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections; finishing the batches in flight");
}
