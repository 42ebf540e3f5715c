//! `agentrail bench load`: a load generator for the collector.
//!
//! Several client threads post batches (native JSON events, or OTLP protobuf spans) and time each
//! request from send to its durable acknowledgement. It reports events per second, p50/p99/max
//! latency, the share of requests refused (503/429), and its own CPU use, since on a small machine
//! the generator competes with the server for the same cores.

use crate::cli::LoadArgs;
use crate::exit::Exit;
use agentrail_server::otlp::ExportTraceServiceRequest;
use anyhow::{bail, Context, Result};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one client measured.
#[derive(Debug, Default)]
struct ClientStats {
    latencies_us: Vec<u64>,
    events: u64,
    refused: u64,
    failed: u64,
}

/// A collector this run started, stopped when dropped.
struct Started {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(inventory: Option<&std::path::Path>) -> Result<(String, Started)> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let data = dir.path().join("data");
    let exe = std::env::current_exe().context("finding this binary")?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
        l.local_addr()?.port()
    };
    let st = Command::new(&exe)
        .arg("--data")
        .arg(&data)
        .args(["init", "--origin", "bench.local/load"])
        .stdout(Stdio::null())
        .status()?;
    if !st.success() {
        bail!("init failed");
    }
    let mut serve = Command::new(&exe);
    serve.arg("--data").arg(&data);
    if let Some(path) = inventory {
        serve.arg("--agents").arg(path);
    }
    let child = serve
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting agentrail serve")?;
    let url = format!("http://127.0.0.1:{port}");
    let started = Started { child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("the collector did not start listening within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((url, started))
}

fn native_body(client: usize, seq: u64, batch: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch * 700);
    for i in 0..batch {
        let line = format!(
            r#"{{"event_id":"load-{client}-{seq}-{i}","session_id":"sess-{client}-{seq}","agent_id":"agent-{client}","principal":"svc-{client}","kind":"action","ts":"2026-11-28T13:00:00Z","action":{{"type":"tool_call","system":"crm","resource":"accounts/{i}","operation":"search_accounts","params":{{"query":"tier = 'enterprise'","limit":25}},"status":"ok","count":25,"duration_ms":12}},"attributes":{{"gen_ai.tool.name":"search_accounts","note":"{}"}}}}"#,
            "x".repeat(300)
        );
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn otlp_body(client: usize, seq: u64, batch: usize) -> Vec<u8> {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&(client as u64 + 1).to_be_bytes());
    trace_id[8..].copy_from_slice(&(seq + 1).to_be_bytes());
    let spans = (0..batch)
        .map(|i| Span {
            trace_id: trace_id.to_vec(),
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: "execute_tool search_accounts".into(),
            start_time_unix_nano: 1_764_334_800_000_000_000 + i as u64,
            end_time_unix_nano: 1_764_334_800_012_000_000 + i as u64,
            attributes: vec![
                kv("gen_ai.operation.name", "execute_tool"),
                kv("gen_ai.tool.name", "search_accounts"),
                kv("gen_ai.agent.name", &format!("agent-{client}")),
                kv(
                    "gen_ai.tool.call.arguments",
                    r#"{"tier":"enterprise","limit":25}"#,
                ),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", "bench")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// User plus system CPU seconds of this process (Linux `/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

pub fn run(a: &LoadArgs) -> Result<Exit> {
    let (url, _started) = match &a.url {
        Some(u) => (u.trim_end_matches('/').to_string(), None),
        None => {
            let (u, s) = start_server(a.inventory.as_deref())?;
            (u, Some(s))
        }
    };
    let path = if a.otlp {
        "/v1/traces"
    } else {
        "/api/v1/events"
    };
    let content_type = if a.otlp {
        "application/x-protobuf"
    } else {
        "application/x-ndjson"
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let per_client_rate = a.rate.map(|r| r as f64 / a.clients.max(1) as f64);
    let handles: Vec<_> = (0..a.clients)
        .map(|client| {
            let (stop, sent) = (stop.clone(), sent.clone());
            let url = format!("{url}{path}");
            let key = a.key.clone();
            let (batch, otlp) = (a.batch, a.otlp);
            std::thread::spawn(move || -> ClientStats {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut st = ClientStats::default();
                let t0 = Instant::now();
                let mut seq = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rate) = per_client_rate {
                        // Open loop: request n is due at n * batch / rate seconds.
                        let due = Duration::from_secs_f64(seq as f64 * batch as f64 / rate);
                        if let Some(wait) = due.checked_sub(t0.elapsed()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let body = if otlp {
                        otlp_body(client, seq, batch)
                    } else {
                        native_body(client, seq, batch)
                    };
                    let mut req = agent.post(&url).header("Content-Type", content_type);
                    if let Some(k) = &key {
                        req = req.header("Authorization", format!("Bearer {k}"));
                    }
                    let t = Instant::now();
                    let resp = req.send(&body[..]);
                    let elapsed = t.elapsed();
                    match resp {
                        Ok(mut r) if r.status().is_success() => {
                            let _ = r.body_mut().read_to_vec();
                            st.latencies_us.push(elapsed.as_micros() as u64);
                            st.events += batch as u64;
                            sent.fetch_add(batch as u64, Ordering::Relaxed);
                        }
                        Ok(r) if matches!(r.status().as_u16(), 429 | 503) => st.refused += 1,
                        _ => st.failed += 1,
                    }
                    seq += 1;
                }
                st
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(a.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all = ClientStats::default();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        all.latencies_us.extend(s.latencies_us);
        all.events += s.events;
        all.refused += s.refused;
        all.failed += s.failed;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu0.and_then(|c0| cpu_seconds().map(|c1| (c1 - c0) / secs));
    all.latencies_us.sort_unstable();
    let l = &all.latencies_us;
    say!(
        "load: {} clients, {} {} per request, {:.0}s{}",
        a.clients,
        a.batch,
        if a.otlp {
            "OTLP spans"
        } else {
            "native events"
        },
        secs,
        a.rate
            .map(|r| format!(", paced at {r} events/s"))
            .unwrap_or_default()
    );
    say!(
        "  acknowledged: {:.0} events/s ({} requests; {} refused busy, {} failed)",
        all.events as f64 / secs,
        l.len(),
        all.refused,
        all.failed
    );
    say!(
        "  ack latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(l, 0.50),
        percentile(l, 0.99),
        percentile(l, 1.0)
    );
    if let Some(c) = cpu {
        say!(
            "  generator CPU: {:.2} cores (of {} available)",
            c,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }
    Ok(Exit::Success)
}
