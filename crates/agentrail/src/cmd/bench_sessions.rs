//! `agentrail bench sessions`: reconstruction latency on a realistic store.
//!
//! It builds (or reuses, with `--reuse`) a store of `--events` events (10 million by default)
//! from a fleet of agents whose runs interleave as real ones do: each session (~38 events) starts
//! with its intent, queries a CRM for ten customers, reads their contracts, decides which to
//! contact (considered, chosen, rejected with reasons), reads tickets, calls a model, writes
//! drafts with diffs, and ends; some fail, some are denied. It then starts `agentrail serve` on
//! the store and times, from the client, one session's full answer (`GET /api/v1/sessions/{id}`,
//! read audit included), filtered session lists, request lookups and resource lookups, each many
//! times on random targets, and reports p50/p99/max. With `--no-audit` the server runs with read
//! auditing off, for the comparison docs/benchmarks.md records.
//!
//! It checks free disk space before building and says how much it needs.

use crate::cli::SessionsBenchArgs;
use crate::exit::Exit;
use agentrail_store::clock::SystemClock;
use agentrail_store::ledger::DataDir;
use agentrail_store::{InitOptions, Ledger};
use anyhow::{bail, Context, Result};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Events per session of the generated fleet.
const SESSION_EVENTS: u64 = 38;
/// Sessions running at once: their events interleave in the log.
const CONCURRENT: usize = 48;
/// Distinct customers the fleet works on.
const CUSTOMERS: u64 = 100_000;
/// Disk use per event, measured on generated stores (ledger, tiles, indexes, session index),
/// with headroom.
const BYTES_PER_EVENT: u64 = 1_600;

const AGENTS: &[(&str, &str, &str)] = &[
    ("renewal-drafter", "user", "crm"),
    ("support-triage", "system", "zendesk"),
    ("nightly-usage-sync", "schedule", "billing-db"),
    ("invoice-reconciler", "schedule", "netsuite"),
    ("churn-scorer", "schedule", "warehouse"),
    ("contract-summarizer", "agent", "contracts-db"),
    ("onboarding-guide", "user", "hubspot"),
    ("security-reviewer", "user", "github"),
];

/// A small deterministic generator (xorshift64*), so every run builds the same store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One session of the fleet: its identity and the customers it works on.
struct Run {
    n: u64,
    step: u64,
    agent: usize,
    customers: [u64; 10],
    fails: bool,
    denied: bool,
    start_ms: u64,
}

/// The first event's time (2026-10-01T00:00:00Z, ms since the epoch); sessions spread over 60 days.
const BASE_MS: u64 = 1_790_812_800_000;
const SPAN_MS: u64 = 60 * 86_400_000;

fn ts(ms: u64) -> String {
    agentrail_core::timefmt::format_unix_nanos(ms as i128 * 1_000_000)
        .unwrap_or_else(|_| "2026-10-01T00:00:00Z".into())
}

/// The session id of run `n`.
pub fn session_id(n: u64) -> String {
    format!("bench-{n:07}")
}

/// The customer id of customer `c`.
pub fn customer(c: u64) -> String {
    format!("cust-{c:06}")
}

impl Run {
    fn new(n: u64, sessions: u64, rng: &mut Rng) -> Run {
        let mut customers = [0u64; 10];
        for c in customers.iter_mut() {
            *c = rng.below(CUSTOMERS);
        }
        Run {
            n,
            step: 0,
            agent: (n % AGENTS.len() as u64) as usize,
            customers,
            fails: rng.below(100) < 3,
            denied: rng.below(100) < 1,
            start_ms: BASE_MS + n * SPAN_MS / sessions.max(1),
        }
    }

    fn done(&self) -> bool {
        self.step >= SESSION_EVENTS
    }

    /// The next event of this run, as one NDJSON line.
    fn next_line(&mut self, out: &mut String) {
        use std::fmt::Write as _;
        let (agent, trigger, system) = AGENTS[self.agent];
        let sid = session_id(self.n);
        let step = self.step;
        self.step += 1;
        let t = ts(self.start_ms + step * 700);
        let id = format!("{sid}-{step:02}");
        let head = format!(
            r#"{{"event_id":"{id}","session_id":"{sid}","agent_id":"{agent}","principal":"svc-{agent}","ts":"{t}","span_id":"{:016x}","#,
            (self.n << 6 | step) + 1
        );
        out.push_str(&head);
        let c = |i: usize| customer(self.customers[i % 10]);
        let last = SESSION_EVENTS - 1;
        match step {
            0 => {
                let _ = write!(
                    out,
                    r#""kind":"session.start","trigger":{{"type":"{trigger}","initiator":"{}","request_id":"req-{}","request":"prepare the renewal outreach for this week's enterprise accounts"}},"authorization":{{"decision":"{}","policy":"policy-{agent}-v3","permissions":["{system}:read","drafts:write"]}}}}"#,
                    if trigger == "user" {
                        "alice@acme.example"
                    } else {
                        "scheduler"
                    },
                    self.n,
                    if self.denied { "deny" } else { "allow" }
                );
            }
            1 => {
                let ids: Vec<String> = (0..10).map(|i| format!("\"{}\"", c(i))).collect();
                let _ = write!(
                    out,
                    r#""kind":"action","action":{{"type":"query","system":"{system}","resource":"accounts","operation":"SELECT","params":{{"where":"tier = 'enterprise'"}},"resource_ids":[{}],"status":"ok","count":10,"duration_ms":41}}}}"#,
                    ids.join(",")
                );
            }
            2..=11 => {
                let i = (step - 2) as usize;
                let _ = write!(
                    out,
                    r#""kind":"action","action":{{"type":"read","system":"contracts-db","resource":"contracts/{}","resource_ids":["{}"],"operation":"SELECT end_date","status":"ok","duration_ms":3}}}}"#,
                    c(i),
                    c(i)
                );
            }
            12 => {
                let considered: Vec<String> = (0..10).map(|i| format!("\"{}\"", c(i))).collect();
                let chosen: Vec<String> = (0..6).map(|i| format!("\"{}\"", c(i))).collect();
                let rejected: Vec<String> = (6..10)
                    .map(|i| {
                        format!(
                            r#"{{"id":"{}","reason":"contract ends in {} days, outside the 60-day window"}}"#,
                            c(i),
                            61 + i * 10
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    r#""kind":"decision","decision":{{"name":"select-renewal-candidates","question":"Which customers need a renewal email now?","considered":[{}],"chosen":[{}],"rejected":[{}],"rationale":"Outreach policy RP-3: contracts ending within 60 days.","model":"claude-sonnet-4-5"}}}}"#,
                    considered.join(","),
                    chosen.join(","),
                    rejected.join(",")
                );
            }
            s if s < last => {
                let k = (s - 13) as usize;
                let i = k / 4;
                let status = if self.fails && k == 5 { "error" } else { "ok" };
                let attrs = format!(r#","attributes":{{"decision_id":"{sid}-12"}}"#);
                let _ = match k % 4 {
                    0 => write!(
                        out,
                        r#""kind":"action","action":{{"type":"read","system":"zendesk","resource":"organizations/{}/tickets","resource_ids":["{}"],"status":"{status}","count":4}}{attrs}}}"#,
                        c(i),
                        c(i)
                    ),
                    1 => write!(
                        out,
                        r#""kind":"action","action":{{"type":"model_call","system":"anthropic","operation":"messages.create","model":"claude-sonnet-4-5","status":"{status}","tokens":{{"input":2174,"output":412}},"duration_ms":3810}}{attrs}}}"#
                    ),
                    2 => write!(
                        out,
                        r#""kind":"action","action":{{"type":"create","system":"gdrive","resource":"renewals/pending-review/{}.md","resource_ids":["{}"],"operation":"files.create","status":"{status}"}}{attrs}}}"#,
                        c(i),
                        c(i)
                    ),
                    _ => write!(
                        out,
                        r#""kind":"diff","diff":{{"system":"gdrive","resource":"renewals/pending-review/{}.md","op":"create","before":null,"after":{{"status":"pending-review","subject":"Your renewal","customer_id":"{}"}}}}{attrs}}}"#,
                        c(i),
                        c(i)
                    ),
                };
            }
            _ => {
                let status = if self.fails {
                    "failed"
                } else if self.denied {
                    "cancelled"
                } else {
                    "succeeded"
                };
                let _ = write!(
                    out,
                    r#""kind":"session.end","outcome":{{"status":"{status}","summary":"6 drafts written to pending review"}}}}"#
                );
            }
        }
        out.push('\n');
    }
}

/// NDJSON of the whole fleet, generated as it is read.
struct Fleet {
    rng: Rng,
    sessions: u64,
    next_session: u64,
    active: Vec<Run>,
    buf: String,
    pos: usize,
}

impl Fleet {
    fn new(sessions: u64) -> Fleet {
        Fleet {
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            sessions,
            next_session: 0,
            active: Vec::with_capacity(CONCURRENT),
            buf: String::new(),
            pos: 0,
        }
    }

    fn refill(&mut self) {
        self.buf.clear();
        self.pos = 0;
        while self.buf.len() < 1 << 16 {
            while self.active.len() < CONCURRENT && self.next_session < self.sessions {
                let run = Run::new(self.next_session, self.sessions, &mut self.rng);
                self.active.push(run);
                self.next_session += 1;
            }
            if self.active.is_empty() {
                return;
            }
            let i = self.rng.below(self.active.len() as u64) as usize;
            self.active[i].next_line(&mut self.buf);
            if self.active[i].done() {
                self.active.swap_remove(i);
            }
        }
    }
}

impl Read for Fleet {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.buf.len() {
            self.refill();
        }
        let rest = &self.buf.as_bytes()[self.pos..];
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Free bytes on the file system holding `dir` (`df -Pk`).
fn free_bytes(dir: &Path) -> Result<u64> {
    let out = Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .context("running df to check free disk space")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let kb: u64 = text
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("reading df's answer for {}: {text:?}", dir.display()))?;
    Ok(kb * 1024)
}

fn build(data: &Path, events: u64) -> Result<()> {
    let parent = data.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let need = events * BYTES_PER_EVENT;
    let free = free_bytes(parent)?;
    if free < need {
        bail!(
            "building {events} events needs about {:.1} GB free under {}; {:.1} GB are free (use --events or --dir)",
            need as f64 / 1e9,
            parent.display(),
            free as f64 / 1e9
        );
    }
    say!(
        "building {events} events (~{:.1} GB; {:.1} GB free) in {}",
        need as f64 / 1e9,
        free as f64 / 1e9,
        data.display()
    );
    if data.exists() {
        std::fs::remove_dir_all(data).with_context(|| format!("clearing {}", data.display()))?;
    }
    Ledger::init(data, &InitOptions::default(), &SystemClock)?;
    let mut ledger = super::open_writer(data, "agentrail bench sessions")?;
    let sessions = events.div_ceil(SESSION_EVENTS);
    let t = Instant::now();
    let tally = super::ingest::ingest(
        &mut ledger,
        &agentrail_server::serve::load_redactor(data, None)?,
        Fleet::new(sessions),
        10_000,
        "cli",
        &mut std::io::sink(),
    )?;
    ledger.checkpoint_now()?;
    drop(ledger);
    if let Some((line, e)) = tally.rejected.first() {
        bail!("generated line {line} was rejected: {e}");
    }
    let secs = t.elapsed().as_secs_f64();
    say!(
        "  appended {} events in {} sessions: {secs:.0}s ({:.0} events/s)",
        tally.accepted,
        sessions,
        tally.accepted as f64 / secs
    );
    let t = Instant::now();
    let mut index = agentrail_index::Index::open(&DataDir::new(data).index())?;
    let mut backend = agentrail_store::ledger::open_read(data)?;
    let done = index.catch_up(backend.as_mut())?;
    let secs = t.elapsed().as_secs_f64();
    say!(
        "  indexed {} events: {secs:.0}s ({:.0} events/s)",
        done.indexed,
        done.indexed as f64 / secs
    );
    Ok(())
}

/// A collector on the store, stopped when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

fn serve(data: &Path, audit: bool) -> Result<(String, String, Served)> {
    let info = DataDir::new(data).server_info();
    // A file left by an earlier run that was killed must not be mistaken for this server's.
    let _ = std::fs::remove_file(&info);
    let exe = std::env::current_exe().context("finding this binary")?;
    let mut cmd = Command::new(exe);
    cmd.arg("--data")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"]);
    if !audit {
        cmd.arg("--no-read-audit");
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting agentrail serve")?;
    let served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(text) = std::fs::read_to_string(&info) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                if let (Some(listen), Some(token)) =
                    (v["listen"].as_str(), v["admin_token"].as_str())
                {
                    return Ok((format!("http://{listen}"), token.to_string(), served));
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the collector did not start within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Times `n` GETs of the paths `path(i)` gives, after `n / 10` warm-up requests.
fn time_gets(
    agent: &ureq::Agent,
    base: &str,
    token: &str,
    n: usize,
    mut path: impl FnMut(usize) -> String,
) -> Result<(f64, f64, f64)> {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let p = path(i);
        let t = Instant::now();
        let mut r = agent
            .get(format!("{base}{p}"))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .with_context(|| format!("GET {p}"))?;
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_vec()?;
        let elapsed = t.elapsed().as_secs_f64() * 1000.0;
        if status != 200 {
            bail!("GET {p}: {status}: {}", String::from_utf8_lossy(&body));
        }
        if i >= n / 10 {
            ms.push(elapsed);
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok((
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        percentile(&ms, 1.0),
    ))
}

pub fn run(a: &SessionsBenchArgs, base: Option<&Path>) -> Result<Exit> {
    let root = base.map_or_else(
        || std::env::temp_dir().join("agentrail-bench"),
        Path::to_path_buf,
    );
    let data = root.join("bench-sessions");
    if !(a.reuse && DataDir::new(&data).db().exists()) {
        build(&data, a.events)?;
    }
    let sessions = a.events.div_ceil(SESSION_EVENTS);
    let (url, token, _served) = serve(&data, !a.no_audit)?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut rng = Rng(42);
    let n = a.requests;
    say!(
        "{} events, {sessions} sessions; {n} timed requests each, read audit {}",
        a.events,
        if a.no_audit { "OFF" } else { "on" }
    );
    let report = |what: &str, r: (f64, f64, f64)| -> Result<()> {
        say!(
            "  {what:<44} p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>7.2} ms",
            r.0,
            r.1,
            r.2
        );
        Ok(())
    };
    report(
        "one session, whole (GET /sessions/{id})",
        time_gets(&agent, &url, &token, n, |_| {
            format!("/api/v1/sessions/{}", session_id(rng.below(sessions)))
        })?,
    )?;
    let mut rng = Rng(43);
    report(
        "request lookup (GET /requests/{id})",
        time_gets(&agent, &url, &token, n, |_| {
            format!("/api/v1/requests/req-{}", rng.below(sessions))
        })?,
    )?;
    let mut rng = Rng(44);
    report(
        "sessions by agent, newest 50",
        time_gets(&agent, &url, &token, n, |_| {
            format!(
                "/api/v1/sessions?agent={}&limit=50",
                AGENTS[rng.below(AGENTS.len() as u64) as usize].0
            )
        })?,
    )?;
    let mut rng = Rng(45);
    report(
        "failed sessions of one agent in a week",
        time_gets(&agent, &url, &token, n, |_| {
            let day = rng.below(53);
            format!(
                "/api/v1/sessions?agent={}&status=failed&from={}&to={}",
                AGENTS[rng.below(AGENTS.len() as u64) as usize].0,
                ts(BASE_MS + day * 86_400_000),
                ts(BASE_MS + (day + 7) * 86_400_000)
            )
        })?,
    )?;
    let mut rng = Rng(46);
    report(
        "sessions that touched a customer",
        time_gets(&agent, &url, &token, n, |_| {
            format!(
                "/api/v1/sessions?resource={}",
                customer(rng.below(CUSTOMERS))
            )
        })?,
    )?;
    let mut rng = Rng(47);
    report(
        "resource lookup (GET /resources?uri=)",
        time_gets(&agent, &url, &token, n, |_| {
            format!(
                "/api/v1/resources?uri={}&limit=100",
                customer(rng.below(CUSTOMERS))
            )
        })?,
    )?;
    Ok(Exit::Success)
}

/// The fleet's inventory: each agent governed by a policy that permits what its runs do, and one
/// inventory-wide `forbid`, so every action costs a real evaluation of 33 policies.
fn fleet_inventory(dir: &Path) -> Result<std::path::PathBuf> {
    let mut toml = String::from("policies = [\"policies/base.cedar\"]\n");
    std::fs::create_dir_all(dir.join("policies"))?;
    std::fs::write(
        dir.join("policies/base.cedar"),
        "forbid (principal, action, resource is Resource) when { resource.system == \"hr-payroll\" };\n",
    )?;
    for (agent, trigger, system) in AGENTS {
        toml.push_str(&format!(
            "\n[[agent]]\nid = \"{agent}\"\nkind = \"llm-agent\"\nowner = \"ops@example.com\"\n\
             triggers = [\"{trigger}\"]\ndata_classification = \"customer\"\npolicy = \"policies/{agent}.cedar\"\n"
        ));
        std::fs::write(
            dir.join(format!("policies/{agent}.cedar")),
            format!(
                "permit (principal, action == Action::\"start\", resource == Agent::\"{agent}\");\n\
                 permit (principal == Agent::\"{agent}\", action in [Action::\"query\", Action::\"read\"], resource)\n\
                   when {{ [\"{system}\", \"contracts-db\", \"zendesk\"].contains(resource.system) }};\n\
                 permit (principal == Agent::\"{agent}\", action == Action::\"model_call\", resource) when {{ resource.system == \"anthropic\" }};\n\
                 permit (principal == Agent::\"{agent}\", action == Action::\"create\", resource) when {{ resource.system == \"gdrive\" }};\n"
            ),
        )?;
    }
    let path = dir.join("agents.toml");
    std::fs::write(&path, toml)?;
    Ok(path)
}

/// Builds a store of `events` fleet events, with the fleet's inventory and policies recorded
/// first when `policies`, and times one full index catch-up. Returns (events, events/s,
/// violations).
fn index_rate(data: &Path, events: u64, policies: bool) -> Result<(u64, f64, u64)> {
    if data.exists() {
        std::fs::remove_dir_all(data).with_context(|| format!("clearing {}", data.display()))?;
    }
    Ledger::init(data, &InitOptions::default(), &SystemClock)?;
    let mut ledger = super::open_writer(data, "agentrail bench policies")?;
    if policies {
        let path = fleet_inventory(data)?;
        agentrail_server::inventory::sync_ledger(data, &mut ledger, &path, "cli")?;
        // The sync indexed the records: start the timed catch-up from an empty index.
        for suffix in ["", "-wal", "-shm"] {
            let _ =
                std::fs::remove_file(format!("{}{suffix}", DataDir::new(data).index().display()));
        }
    }
    let tally = super::ingest::ingest(
        &mut ledger,
        &agentrail_server::serve::load_redactor(data, None)?,
        Fleet::new(events.div_ceil(SESSION_EVENTS)),
        10_000,
        "cli",
        &mut std::io::sink(),
    )?;
    drop(ledger);
    if let Some((line, e)) = tally.rejected.first() {
        bail!("generated line {line} was rejected: {e}");
    }
    let mut index = agentrail_index::Index::open(&DataDir::new(data).index())?;
    let mut backend = agentrail_store::ledger::open_read(data)?;
    let t = Instant::now();
    let done = index.catch_up(backend.as_mut())?;
    let secs = t.elapsed().as_secs_f64();
    let denied = index
        .decisions_total("deny")
        .context("counting the stored denials")?;
    Ok((done.indexed, done.indexed as f64 / secs, denied))
}

/// `agentrail bench policies`: index catch-up without policies, with them, and without again
/// (the machine is noisy: the two runs without bracket the one with).
pub fn run_policies(events: u64, base: Option<&Path>) -> Result<Exit> {
    let tmp;
    let root = match base {
        Some(b) => b.to_path_buf(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    std::fs::create_dir_all(&root)?;
    let need = 2 * events * BYTES_PER_EVENT;
    let free = free_bytes(&root)?;
    if free < need {
        bail!(
            "needs about {:.1} GB free under {}; {:.1} GB are free (use --events or --dir)",
            need as f64 / 1e9,
            root.display(),
            free as f64 / 1e9
        );
    }
    say!("session index catch-up over {events} fleet events (8 agents, ~38 events a session):");
    let mut rows = Vec::new();
    for (name, policies) in [
        ("without policies", false),
        ("with 33 policies", true),
        ("without policies", false),
    ] {
        let (n, rate, denied) = index_rate(
            &root.join(if policies { "with" } else { "without" }),
            events,
            policies,
        )?;
        say!("  {name:<18} {n} events indexed at {rate:>8.0} events/s ({denied} denials stored)");
        rows.push(rate);
    }
    let without = (rows[0] + rows[2]) / 2.0;
    say!(
        "  with policies: {:.0} % of the rate without (mean of the two runs without)",
        100.0 * rows[1] / without
    );
    Ok(Exit::Success)
}
