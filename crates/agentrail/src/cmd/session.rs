//! The session verbs: `sessions` (which agent runs), `session show` (what one run did and why)
//! and `reindex`. Each read first brings the session index (`DATA/index.sqlite`, derived data)
//! level with the ledger, which costs nothing when nothing is new. Like every read verb they
//! open the data files directly and take no lock: they are not audited and are no access
//! boundary, since whoever can read the data directory can read every event in it.
//!
//! What they print of an event is untrusted text an agent wrote: it reaches the output only
//! through [`escape`], by way of the [`render`] document model.

pub(crate) mod escape;
pub(crate) mod narrative;
pub(crate) mod render;

use crate::cli::{ListFormat, SessionsArgs, ShowArgs, ShowFormat};
use crate::exit::Exit;
use agentrail_index::view::{self, SessionView};
use agentrail_index::{Index, IndexError, Page, Session, SessionFilter};
use agentrail_store::backend::Backend;
use agentrail_store::ledger::{open_read, DataDir};
use anyhow::{bail, Context, Result};
use render::{Block, Doc, Line, Tone};
use serde_json::json;
use std::path::Path;

/// The ledger, read-only, and its session index.
pub(crate) struct Reader {
    pub(crate) ledger: Box<dyn Backend>,
    pub(crate) index: Index,
    /// Set when the data directory's index could not be written (a read-only copy): a
    /// temporary index, rebuilt for this command and deleted after it.
    _scratch: Option<tempfile::TempDir>,
    /// The key `session show` checks checkpoints with, when the caller gave one.
    key: Option<agentrail_core::note::Verifier>,
}

impl Reader {
    /// Opens the ledger and its index, and indexes whatever the ledger committed since the
    /// last read. When the data directory's index cannot be written (an auditor's read-only
    /// copy), it builds a temporary one instead and says so.
    pub(crate) fn caught_up(data: &Path) -> Result<Reader> {
        let path = DataDir::new(data).index();
        let mut ledger = open_read(data)?;
        let local = Index::open(&path).and_then(|mut index| {
            let c = index.catch_up(ledger.as_mut())?;
            Ok((index, c))
        });
        let (index, c, scratch) = match local {
            Ok((index, c)) => (index, c, None),
            Err(IndexError::Database(e)) => {
                let dir = tempfile::tempdir().context("creating a temporary session index")?;
                eprintln!(
                    "cannot write the session index {} ({e}); using a temporary one built from the ledger for this command",
                    path.display()
                );
                let mut index = Index::open(&dir.path().join("index.sqlite"))?;
                let c = index
                    .catch_up(ledger.as_mut())
                    .context("building a temporary session index")?;
                (index, c, Some(dir))
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "bringing the session index {} level with the ledger (derived data: it may be deleted and rebuilt with `agentrail reindex`)",
                    path.display()
                )))
            }
        };
        if c.rebuilt {
            eprintln!(
                "the session index did not match this ledger (another log, format or size): rebuilt it from the ledger's {} leaves",
                c.through
            );
        }
        Ok(Reader {
            ledger,
            index,
            _scratch: scratch,
            key: None,
        })
    }

    fn view(&mut self, session_id: &str) -> Result<SessionView> {
        Ok(view::build(
            &self.index,
            self.ledger.as_mut(),
            session_id,
            self.key.as_ref(),
        )?)
    }

    /// Every session that served `request_id`, newest first; at least one.
    fn request(&mut self, request_id: &str) -> Result<Vec<SessionView>> {
        let sessions = self.index.sessions_for_request(request_id)?;
        if sessions.is_empty() {
            return Err(IndexError::NotFound(format!(
                "no session served request id {request_id:?} (the trigger.request_id of a \
                 session.start)"
            ))
            .into());
        }
        sessions.iter().map(|s| self.view(&s.session_id)).collect()
    }
}

/// `agentrail reindex`: drops the index and rebuilds it from the ledger's leaves alone.
pub fn reindex(data: &Path) -> Result<Exit> {
    let mut ledger = open_read(data)?;
    let path = DataDir::new(data).index();
    let mut index = Index::open(&path)
        .with_context(|| format!("opening the session index {}", path.display()))?;
    index.reset().context("emptying the session index")?;
    let c = index
        .catch_up(ledger.as_mut())
        .context("rebuilding the session index from the ledger")?;
    say!(
        "rebuilt the session index from the ledger: {} leaves, {} sessions",
        c.through,
        index.session_count()?
    );
    Ok(Exit::Success)
}

/// `agentrail sessions`: one page of the sessions the filters match, newest first.
pub fn sessions(data: &Path, a: &SessionsArgs) -> Result<Exit> {
    let mut filter = SessionFilter::default();
    let given = [
        ("agent", &a.agent),
        ("initiator", &a.initiator),
        ("trigger", &a.trigger),
        ("status", &a.status),
        ("from", &a.from),
        ("to", &a.to),
        ("system", &a.system),
        ("resource", &a.resource),
        ("request_id", &a.request_id),
        ("conversation_id", &a.conversation_id),
        ("principal", &a.principal),
        ("violation", &a.violations.then(|| "true".to_string())),
        ("limit", &a.limit),
        ("cursor", &a.cursor),
    ];
    for (name, value) in given {
        if let Some(v) = value {
            filter.set(name, v.clone())?;
        }
    }
    let r = Reader::caught_up(data)?;
    let page = r.index.sessions(&filter)?;
    match a.format {
        ListFormat::Json => {
            let out = json!({
                "sessions": page.items.iter().map(Session::to_json).collect::<Vec<_>>(),
                "next_cursor": page.next_cursor,
            });
            say!("{}", escape::json(&out, true));
        }
        ListFormat::Text => say_raw!("{}", list(&page).to_text(render::color_wanted())),
    }
    Ok(Exit::Success)
}

fn list(page: &Page<Session>) -> Doc {
    let mut doc = Doc::default();
    if page.items.is_empty() {
        doc.push(Block::Text(Line::new().ours("no sessions found")));
        return doc;
    }
    let rows = page.items.iter().map(row).collect();
    doc.push(Block::Table {
        head: vec![
            "STARTED",
            "SESSION",
            "AGENT",
            "TRIGGER",
            "REQUEST",
            "STATUS",
            "ACTIONS",
            "READS",
            "WRITES",
            "TOOLS",
            "MODELS",
            "DECISIONS",
            "DIFFS",
            "FLAGS",
        ],
        right: [vec![false; 6], vec![true; 7], vec![false]].concat(),
        rows,
    });
    if let Some(c) = &page.next_cursor {
        doc.push(Block::Text(
            Line::new()
                .ours("more sessions: add --cursor ")
                .agent(c)
                .ours(" for the next page")
                .tone(Tone::Dim),
        ));
    }
    doc
}

fn row(s: &Session) -> render::Row {
    let started = agentrail_index::session::normal(s.started_at());
    let trigger = match (&s.trigger_type, &s.initiator) {
        (Some(t), Some(i)) => Line::new().agent(t).ours(" ").agent(i),
        (Some(t), None) => Line::new().agent(t),
        (None, _) => Line::new().ours("-"),
    };
    let c = &s.counts;
    let n = |v: u64| Line::new().ours(v.to_string());
    let mut flags = Vec::new();
    if s.start.is_none() {
        flags.push("missing-intent");
    }
    if c.failed > 0 {
        flags.push("failed");
    }
    if c.denied > 0 || s.authorization.as_deref() == Some("deny") {
        flags.push("denied");
    }
    if c.violations > 0 {
        flags.push("violation");
    }
    let flags = if flags.is_empty() {
        Line::new().ours("-")
    } else {
        Line::new().ours(flags.join(",")).tone(Tone::Bad)
    };
    let status = Line::new().agent(&s.status).tone(match s.status.as_str() {
        "succeeded" => Tone::Good,
        "failed" => Tone::Bad,
        _ => Tone::Warn,
    });
    vec![
        Line::new().ours(started.get(..19).unwrap_or(&started)),
        Line::new().agent(&s.session_id),
        Line::new().agent(&s.agent_id),
        trigger,
        Line::new().agent(s.request_id.as_deref().unwrap_or("-")),
        status,
        n(c.actions),
        n(c.reads),
        n(c.writes),
        n(c.tool_calls),
        n(c.model_calls),
        n(c.decisions),
        n(c.diffs),
        flags,
    ]
}

/// `agentrail session show`: one session, or every session that served a request id.
pub fn show(data: &Path, a: &ShowArgs) -> Result<Exit> {
    let mut r = Reader::caught_up(data)?;
    if a.key.is_some() || a.key_file.is_some() {
        r.key = Some(super::prove::load_key(&crate::cli::KeyArgs {
            key: a.key.clone(),
            key_file: a.key_file.clone(),
        })?);
    }
    match (&a.id, &a.request) {
        (Some(id), _) => print(&[r.view(id)?], None, a.format),
        (None, Some(request)) => print(&r.request(request)?, Some(request), a.format),
        (None, None) => bail!("give a session id, or --request ID"),
    }
}

/// Catches the index up and tells request 47892 as `session show --request 47892` does.
pub fn demo_narrative(data: &Path) -> Result<()> {
    const DEMO_REQUEST: &str = "47892";
    let mut r = Reader::caught_up(data)?;
    let views = r.request(DEMO_REQUEST)?;
    if print(&views, Some(DEMO_REQUEST), ShowFormat::Text)? != Exit::Success {
        bail!("request {DEMO_REQUEST}: the log failed its integrity checks (see above)");
    }
    Ok(())
}

/// The demo's closing part: the gap assessment's summary and remediation order, the
/// unregistered agents, and the session with a scope violation, with the policy that denied it.
pub fn demo_governance(data: &Path, violation_session: &str) -> Result<()> {
    let mut r = Reader::caught_up(data)?;
    let state = r.index.policy_state()?;
    let now = agentrail_core::timefmt::format_unix_nanos(
        agentrail_store::clock::Clock::now_unix_nanos(&agentrail_store::clock::SystemClock),
    )?;
    let report = agentrail_index::assess::gather::report(
        &r.index,
        r.ledger.as_mut(),
        &state,
        agentrail_index::assess::Period::default(),
        &now,
    )?;
    say!("{}", escape::escape(report.summary_sentence()));
    for a in &report.agents {
        let scores: Vec<String> = a
            .layers
            .iter()
            .map(|l| format!("{} {}", l.layer.name(), l.score.label()))
            .collect();
        say!(
            "  {:<20} {:<11} {}{}",
            escape::escape(&a.agent.id),
            if a.agent.registered {
                "registered"
            } else {
                "DISCOVERED"
            },
            scores.join(" | "),
            if a.violations.count > 0 {
                format!(" | {} scope violation(s)", a.violations.count)
            } else {
                String::new()
            }
        );
    }
    if let Some(first) = report.remediation.first() {
        say!(
            "remediation starts with {} ({})",
            escape::escape(&first.agent_id),
            escape::escape(&first.why)
        );
    }
    let view = r.view(violation_session)?;
    for d in view
        .policy
        .iter()
        .filter(|d| d.verdict.decision == agentrail_policy::Decision::Deny)
    {
        let what = view
            .event(d.leaf_index)
            .and_then(|e| e.body())
            .and_then(|b| b.get("action"))
            .map(|a| {
                format!(
                    "{} {}/{}",
                    a["type"].as_str().unwrap_or("?"),
                    a["system"].as_str().unwrap_or("?"),
                    a["resource"].as_str().unwrap_or("?")
                )
            })
            .unwrap_or_default();
        say!(
            "scope violation in {}: {} (event {}) denied by policy {}",
            escape::escape(violation_session),
            escape::escape(&what),
            escape::escape(&d.event_id),
            escape::escape(&d.verdict.policies.join(", "))
        );
    }
    Ok(())
}

/// Prints the sessions; exit 1 when any failed an integrity check.
fn print(views: &[SessionView], request: Option<&str>, format: ShowFormat) -> Result<Exit> {
    match format {
        ShowFormat::Json => {
            let out = match (request, views) {
                (None, [one]) => one.to_json(false),
                _ => json!({
                    "request_id": request,
                    "sessions": views.iter().map(|v| v.to_json(false)).collect::<Vec<_>>(),
                }),
            };
            say!("{}", escape::json(&out, true));
        }
        ShowFormat::Text | ShowFormat::Md => {
            let color = render::color_wanted();
            let mut docs = Vec::new();
            if let (Some(id), true) = (request, views.len() > 1) {
                let mut intro = Doc::default();
                intro.push(Block::Text(Line::new().ours("request ").agent(id).ours(
                    format!(" was served by {} sessions, newest first", views.len()),
                )));
                docs.push(intro);
            }
            docs.extend(views.iter().map(narrative::document));
            let out: Vec<String> = docs
                .iter()
                .map(|d| match format {
                    ShowFormat::Md => d.to_markdown(),
                    _ => d.to_text(color),
                })
                .collect();
            say_raw!("{}", out.join("\n"));
        }
    }
    Ok(if views.iter().all(|v| v.integrity.ok()) {
        Exit::Success
    } else {
        Exit::Invalid
    })
}
