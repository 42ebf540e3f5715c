//! One session told for a person: its intent (what triggered it, who, under what authorization),
//! its scope (every action, in order), its decisions (what was considered, chosen and rejected,
//! why, and what followed from each), its outcome (every change, and how the run ended), and
//! whether every event shown is proven to be in the signed log. Everything shown of an event
//! comes from the ledger's bytes ([`SessionView`]), never from the index.

mod trace;

use super::escape;
use super::render::{Block, Doc, Line, Row, Tone};
use agentrail_index::view::{SessionView, ViewEvent};
use agentrail_policy::Decision;
use serde_json::Value;

/// The most columns of resource ids one scope row shows; the rest are counted.
const IDS_WIDTH: usize = 40;

/// The narrative of one session.
pub fn document(v: &SessionView) -> Doc {
    let n = Narrative {
        v,
        same_day: v
            .events
            .windows(2)
            .all(|w| w[0].ts.get(..10) == w[1].ts.get(..10)),
    };
    let mut doc = Doc::default();
    n.header(&mut doc);
    n.intent(&mut doc);
    n.scope(&mut doc);
    n.decisions(&mut doc);
    n.outcome(&mut doc);
    n.notes(&mut doc);
    n.integrity(&mut doc);
    doc
}

struct Narrative<'a> {
    v: &'a SessionView,
    /// Every event on one UTC day: times are shown without the date.
    same_day: bool,
}

/// A string member of an event body, by JSON pointer.
fn text<'b>(body: &'b Value, ptr: &str) -> Option<&'b str> {
    body.pointer(ptr).and_then(Value::as_str)
}

fn array<'b>(body: &'b Value, ptr: &str) -> &'b [Value] {
    body.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn status_tone(status: &str) -> Tone {
    match status {
        "ok" | "succeeded" | "allow" => Tone::Good,
        "error" | "denied" | "failed" | "deny" => Tone::Bad,
        _ => Tone::Warn,
    }
}

impl Narrative<'_> {
    /// The event's time, to the millisecond at least; without the date when the whole
    /// session is on one day.
    fn time(&self, ev: &ViewEvent) -> String {
        let stem = ev.ts.trim_end_matches('Z');
        let (secs, frac) = stem.split_once('.').unwrap_or((stem, ""));
        let t = format!("{secs}.{frac:0<3}");
        match t.split_once('T') {
            Some((_, time)) if self.same_day => time.to_string(),
            _ => format!("{t}Z"),
        }
    }

    fn of_kind<'s>(&'s self, kind: &'s str) -> impl Iterator<Item = &'s ViewEvent> + 's {
        self.v.events.iter().filter(move |e| e.kind == kind)
    }

    fn erased(&self, ev: &ViewEvent) -> Line {
        Line::new()
            .ours(format!("{} event ", self.time(ev)))
            .agent(&ev.event_id)
            .ours(format!(" (leaf {}): its body is erased", ev.leaf_index))
            .tone(Tone::Warn)
    }

    /// A table row for an event whose body is erased.
    fn erased_row(&self, ev: &ViewEvent) -> Row {
        vec![
            Line::new().ours(self.time(ev)),
            Line::new().ours("(erased)").tone(Tone::Warn),
            Line::new().ours("event ").agent(&ev.event_id),
        ]
    }

    fn header(&self, doc: &mut Doc) {
        let s = &self.v.session;
        doc.push(Block::Title(
            Line::new().ours("Session ").agent(&s.session_id),
        ));
        let mut agent = Line::new().agent(&s.agent_id);
        if s.start.is_none() {
            agent = agent
                .ours(" (from its first event: no session.start)")
                .tone(Tone::Warn);
        }
        let others: Vec<&String> = s.agents.iter().filter(|a| **a != s.agent_id).collect();
        for (i, a) in others.iter().enumerate() {
            agent = agent.ours(if i == 0 { ", with " } else { ", " }).agent(a);
        }
        doc.push(Block::Field("agent", vec![agent]));
        let status = Line::new().agent(&s.status).tone(status_tone(&s.status));
        doc.push(Block::Field("status", vec![status]));
        let (first, last) = (self.v.events.first(), self.v.events.last());
        if let (Some(first), Some(last)) = (first, last) {
            let end = if s.end.is_some() {
                "ended"
            } else {
                "last event"
            };
            doc.push(Block::Field(
                "time",
                vec![Line::new().ours(format!("{} to {} ({end})", first.ts, last.ts))],
            ));
        }
        doc.push(Block::Field(
            "events",
            vec![Line::new().ours(format!(
                "{} (leaves {} to {})",
                self.v.events.len(),
                s.first_leaf,
                s.last_leaf
            ))],
        ));
    }

    fn intent(&self, doc: &mut Doc) {
        doc.push(Block::Heading("Intent"));
        let start = self
            .v
            .session
            .start
            .as_ref()
            .and_then(|a| self.v.event(a.leaf_index));
        match start.map(|ev| (ev, ev.body())) {
            None => doc.push(Block::Text(
                Line::new()
                    .ours(
                        "MISSING: no session.start was recorded for this run: what triggered it, \
                         who initiated it and whether it was authorized are unknown",
                    )
                    .tone(Tone::Bad),
            )),
            Some((ev, None)) => doc.push(Block::Text(self.erased(ev))),
            Some((ev, Some(b))) => self.intent_record(doc, ev, b),
        }
        for ev in self.of_kind("session.start") {
            if start.is_some_and(|s| s.leaf_index == ev.leaf_index) {
                continue;
            }
            let mut l = Line::new()
                .ours(format!("{} by ", self.time(ev)))
                .agent(&ev.agent_id);
            if let Some(b) = ev.body() {
                l = l.ours(": ").agent(text(b, "/trigger/type").unwrap_or("-"));
                l = l.ours(", initiated by ");
                l = l.agent(text(b, "/trigger/initiator").unwrap_or("-"));
            }
            doc.push(Block::Field("nested start", vec![l]));
        }
        for ev in self.of_kind("authz.change") {
            let Some(b) = ev.body() else {
                doc.push(Block::Field("authz change", vec![self.erased(ev)]));
                continue;
            };
            let mut lines = vec![Line::new().ours(format!("{}: ", self.time(ev)))];
            lines.extend(authorization(
                b.get("authorization").unwrap_or(&Value::Null),
            ));
            if let Some(r) = text(b, "/reason") {
                lines.push(Line::new().ours("reason: ").agent(r));
            }
            doc.push(Block::Field("authz change", lines));
        }
    }

    fn intent_record(&self, doc: &mut Doc, ev: &ViewEvent, b: &Value) {
        let mut trigger = Line::new()
            .agent(text(b, "/trigger/type").unwrap_or("-"))
            .ours(", initiated by ")
            .agent(text(b, "/trigger/initiator").unwrap_or("-"));
        if let Some(s) = text(b, "/trigger/schedule") {
            trigger = trigger.ours(", schedule ").agent(s);
        }
        doc.push(Block::Field("trigger", vec![trigger]));
        let request = match (text(b, "/trigger/request_id"), text(b, "/trigger/request")) {
            (Some(id), Some(r)) => Line::new().agent(id).ours(": ").agent(r),
            (Some(id), None) => Line::new().agent(id),
            (None, Some(r)) => Line::new().ours("(no request id) ").agent(r),
            (None, None) => Line::new().ours("none recorded"),
        };
        doc.push(Block::Field("request", vec![request]));
        let auth = match b.get("authorization") {
            Some(a) => authorization(a),
            None => vec![Line::new().ours("none recorded").tone(Tone::Warn)],
        };
        doc.push(Block::Field("authorization", auth));
        let principal = match ev.event.get("principal").and_then(Value::as_str) {
            Some(p) => Line::new().agent(p),
            None => Line::new().ours("none recorded (the agent's own identity)"),
        };
        doc.push(Block::Field("principal", vec![principal]));
        let parent = match text(b, "/parent_session_id") {
            Some(p) => Line::new().agent(p),
            None => Line::new().ours("none (a top-level run)"),
        };
        doc.push(Block::Field("parent session", vec![parent]));
        doc.push(Block::Field(
            "recorded",
            vec![Line::new()
                .ours(format!("{} as event ", ev.ts))
                .agent(&ev.event_id)],
        ));
    }

    fn scope(&self, doc: &mut Doc) {
        doc.push(Block::Heading("Scope"));
        let actions: Vec<&ViewEvent> = self.of_kind("action").collect();
        if actions.is_empty() {
            doc.push(Block::Text(Line::new().ours("no action recorded")));
            return;
        }
        let c = &self.v.session.counts;
        let kinds = [
            (c.reads, "read", "reads"),
            (c.writes, "write", "writes"),
            (c.queries, "query", "queries"),
            (c.api_calls, "API call", "API calls"),
            (c.tool_calls, "tool call", "tool calls"),
            (c.model_calls, "model call", "model calls"),
        ];
        let parts: Vec<String> = kinds
            .iter()
            .filter(|(n, ..)| *n > 0)
            .map(|&(n, one, many)| count(n, one, many))
            .collect();
        let mut summary = Line::new().ours(format!(
            "{}: {}",
            count(actions.len() as u64, "action", "actions"),
            parts.join(", ")
        ));
        for (n, what) in [(c.failed, "failed"), (c.denied, "denied")] {
            if n > 0 {
                summary = summary
                    .ours("; ")
                    .ours(format!("{n} {what}"))
                    .tone(Tone::Bad);
            }
        }
        doc.push(Block::Text(summary));
        let rows: Vec<Row> = actions.iter().map(|ev| self.action_row(ev)).collect();
        let policy_column = !self.v.policy.is_empty();
        let rows = rows
            .into_iter()
            .zip(&actions)
            .map(|(mut row, ev)| {
                if policy_column {
                    row.push(self.policy_cell(ev.leaf_index));
                }
                row
            })
            .collect();
        let mut head = vec![
            "TIME",
            "TYPE",
            "SYSTEM",
            "RESOURCE",
            "IDS",
            "OPERATION",
            "STATUS",
            "DETAIL",
        ];
        if policy_column {
            head.push("POLICY");
        }
        let width = head.len();
        doc.push(Block::Table {
            head,
            right: vec![false; width],
            rows,
        });
        self.violations(doc);
    }

    /// The scope policy's verdict on one event, as a table cell.
    fn policy_cell(&self, leaf_index: u64) -> Line {
        match self.v.policy_of(leaf_index) {
            None => Line::new().ours("-").tone(Tone::Dim),
            Some(d) => {
                let v = &d.verdict;
                let tone = match v.decision {
                    Decision::Allow => Tone::Good,
                    Decision::Deny | Decision::Error => Tone::Bad,
                    Decision::NoPolicy => Tone::Dim,
                };
                let word = match v.decision {
                    Decision::Deny => "VIOLATION",
                    Decision::Error => "ERROR",
                    other => other.as_str(),
                };
                let mut l = Line::new().ours(word).tone(tone);
                if !v.policies.is_empty() {
                    l = l.ours(" by ").agent(&v.policies.join(", "));
                }
                l
            }
        }
    }

    /// Every scope violation and policy error of the session, with the policies that decided.
    fn violations(&self, doc: &mut Doc) {
        for d in &self.v.policy {
            let v = &d.verdict;
            let label = match v.decision {
                Decision::Deny => "VIOLATION",
                Decision::Error => "POLICY ERROR",
                _ => continue,
            };
            let what = self
                .v
                .event(d.leaf_index)
                .and_then(|e| e.body())
                .and_then(|b| b.get("action"))
                .map(|a| {
                    Line::new()
                        .agent(text(a, "/type").unwrap_or("?"))
                        .ours(" ")
                        .agent(text(a, "/system").unwrap_or("?"))
                        .ours(" ")
                        .agent(text(a, "/resource").unwrap_or("-"))
                })
                .unwrap_or_else(|| Line::new().agent(&d.kind));
            let mut line = Line::new()
                .ours(format!("{label}: "))
                .tone(Tone::Bad)
                .ours("event ")
                .agent(&d.event_id)
                .ours(" (");
            line.extend(what);
            line = line.ours(")");
            line = match (v.decision, v.policies.is_empty()) {
                (Decision::Deny, true) => line.ours(": no policy permits it"),
                (Decision::Deny, false) => line.ours(": denied by ").agent(&v.policies.join(", ")),
                (_, true) => line.ours(": evaluation failed"),
                (_, false) => line
                    .ours(": evaluation failed (satisfied: ")
                    .agent(&v.policies.join(", "))
                    .ours(")"),
            };
            line = line.ours(format!(
                " under policy set {}",
                v.policy_set_hash.get(..12).unwrap_or(&v.policy_set_hash)
            ));
            doc.push(Block::Text(line));
            for e in &v.errors {
                doc.push(Block::Text(Line::new().ours("  error: ").agent(e)));
            }
        }
    }

    fn action_row(&self, ev: &ViewEvent) -> Row {
        let Some(a) = ev.body().and_then(|b| b.get("action")) else {
            return self.erased_row(ev);
        };
        let s = |k: &str| match a.get(k).and_then(Value::as_str) {
            Some(v) => Line::new().agent(v),
            None => Line::new(),
        };
        let status = a.get("status").and_then(Value::as_str).unwrap_or("");
        let shown = match status {
            "error" => "FAILED (error)",
            "denied" => "DENIED",
            other => other,
        };
        let mut detail = Line::new();
        if let Some(n) = a.get("count") {
            detail = detail.ours("count ").json(n);
        }
        if let Some(m) = a.get("model").and_then(Value::as_str) {
            let sep = if a.get("count").is_some() { ", " } else { "" };
            detail = detail.ours(format!("{sep}model ")).agent(m);
        }
        if let Some(t) = a.get("tokens") {
            let n = |k: &str| t.get(k).map_or("?".to_string(), |v| v.to_string());
            detail = detail.ours(format!(", tokens {} in / {} out", n("input"), n("output")));
        }
        vec![
            Line::new().ours(self.time(ev)),
            s("type"),
            s("system"),
            s("resource"),
            ids(array(a, "/resource_ids")),
            s("operation"),
            Line::new().agent(shown).tone(status_tone(status)),
            detail,
        ]
    }
}

/// The authorization object as lines: decision and policy, permissions, who granted them.
fn authorization(a: &Value) -> Vec<Line> {
    let decision = text(a, "/decision").unwrap_or("-");
    let mut first = Line::new().agent(decision).tone(status_tone(decision));
    if let Some(p) = text(a, "/policy") {
        first = first.ours(" by policy ").agent(p);
    }
    if let Some(h) = text(a, "/policy_hash") {
        first = first.ours(" (").agent(h).ours(")");
    }
    let mut lines = vec![first];
    let perms = array(a, "/permissions");
    if !perms.is_empty() {
        lines.push(Line::new().ours("permissions: ").values(perms));
    }
    if let Some(g) = text(a, "/granted_by") {
        lines.push(Line::new().ours("granted by ").agent(g));
    }
    lines
}

/// Resource ids, as many as fit in [`IDS_WIDTH`] columns, then how many more.
fn ids(vs: &[Value]) -> Line {
    let mut line = Line::new();
    let mut used = 0;
    for (k, v) in vs.iter().enumerate() {
        let w = escape::width(&escape::value_text(v));
        if k > 0 && used + w + 2 > IDS_WIDTH {
            return line
                .ours(format!(" +{} more", vs.len() - k))
                .tone(Tone::Dim);
        }
        if k > 0 {
            line = line.ours(", ");
        }
        line = line.value(v);
        used += w + 2;
    }
    line
}

/// `1 action`, `2 actions`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
