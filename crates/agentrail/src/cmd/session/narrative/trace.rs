//! What a session decided and what came of it: for each decision, what was considered, chosen
//! and rejected and why, and the actions and diffs that followed from it (with how each was
//! linked to it); every change the session made (before → after), its `session.end`, its notes;
//! and whether each of its events is proven to be in the signed log.

use super::{array, count, status_tone, text, Narrative};
use crate::cmd::session::escape;
use crate::cmd::session::render::{Block, Doc, Line, Row, Tone};
use agentrail_index::view::ViewEvent;
use serde_json::Value;
use std::collections::BTreeSet;

impl Narrative<'_> {
    pub(super) fn decisions(&self, doc: &mut Doc) {
        doc.push(Block::Heading("Decisions"));
        if self.v.decisions.is_empty() {
            doc.push(Block::Text(Line::new().ours("no decision recorded")));
        }
        for links in &self.v.decisions {
            let Some(ev) = self.v.event(links.decision) else {
                continue;
            };
            let Some(d) = ev.body().and_then(|b| b.get("decision")) else {
                doc.push(Block::Text(self.erased(ev)));
                continue;
            };
            doc.push(Block::Subheading(
                Line::new()
                    .agent(text(d, "/name").unwrap_or("-"))
                    .tone(Tone::Strong)
                    .ours(format!(" at {}, event ", self.time(ev)))
                    .agent(&ev.event_id),
            ));
            optional(doc, "question", text(d, "/question"));
            for (label, ptr) in [
                ("inputs", "/inputs"),
                ("considered", "/considered"),
                ("chosen", "/chosen"),
            ] {
                let vs = array(d, ptr);
                let line = match vs.len() {
                    0 if ptr != "/chosen" => continue,
                    0 => Line::new().ours("nothing").tone(Tone::Warn),
                    n => Line::new()
                        .values(vs)
                        .ours(format!(" ({n})"))
                        .tone(Tone::Dim),
                };
                doc.push(Block::Field(label, vec![line]));
            }
            let rejected = array(d, "/rejected");
            let w = rejected
                .iter()
                .map(|r| escape::width(&escape::value_text(r.get("id").unwrap_or(&Value::Null))))
                .max()
                .unwrap_or(0);
            let lines = rejected.iter().map(|r| {
                let id = r.get("id").unwrap_or(&Value::Null);
                let pad = w - escape::width(&escape::value_text(id));
                Line::new()
                    .value(id)
                    .tone(Tone::Bad)
                    .gap(pad + 2)
                    .agent(r.get("reason").and_then(Value::as_str).unwrap_or(""))
            });
            if !rejected.is_empty() {
                doc.push(Block::Field("rejected", lines.collect()));
            }
            let explained: Vec<&Value> = array(d, "/chosen")
                .iter()
                .chain(rejected.iter().filter_map(|r| r.get("id")))
                .collect();
            let silent: Vec<&Value> = array(d, "/considered")
                .iter()
                .filter(|c| !explained.contains(c))
                .collect();
            if !silent.is_empty() {
                let l = Line::new()
                    .values(silent)
                    .ours(": considered, neither chosen nor rejected with a reason")
                    .tone(Tone::Warn);
                doc.push(Block::Field("unexplained", vec![l]));
            }
            optional(doc, "rationale", text(d, "/rationale"));
            optional(doc, "model", text(d, "/model"));
            self.followed_by(doc, links.link, &links.followed_by);
        }
    }

    fn followed_by(&self, doc: &mut Doc, link: &str, leaves: &[u64]) {
        let followers: Vec<&ViewEvent> = leaves.iter().filter_map(|l| self.v.event(*l)).collect();
        let actions = followers.iter().filter(|e| e.kind == "action").count();
        let how = match link {
            "decision_id" => "linked by decision_id: their attributes.decision_id names this decision",
            "span" => "linked by span: their parent span is this decision's span",
            "order" => "linked by order: they came after it, before the next decision, and nothing links them explicitly",
            _ => "nothing: no action or diff names it, and none came after it before the next decision",
        };
        let line = if followers.is_empty() {
            Line::new().ours(how).tone(Tone::Warn)
        } else {
            Line::new().ours(format!(
                "{} and {}, {how}",
                count(actions as u64, "action", "actions"),
                count((followers.len() - actions) as u64, "diff", "diffs")
            ))
        };
        doc.push(Block::Field("followed by", vec![line]));
        if followers.is_empty() {
            return;
        }
        let rows = followers
            .iter()
            .map(|ev| {
                let b = ev.body();
                let (what, system, resource) = match ev.kind.as_str() {
                    "action" => ("/action/type", "/action/system", "/action/resource"),
                    _ => ("/diff/op", "/diff/system", "/diff/resource"),
                };
                let get = |p| b.and_then(|b| text(b, p)).unwrap_or("");
                vec![
                    Line::new().ours(self.time(ev)),
                    Line::new().agent(&ev.event_id),
                    Line::new().ours(format!("{} ", ev.kind)).agent(get(what)),
                    Line::new().agent(get(system)),
                    Line::new().agent(get(resource)),
                ]
            })
            .collect();
        doc.push(Block::Table {
            head: vec!["TIME", "EVENT", "WHAT", "SYSTEM", "RESOURCE"],
            right: vec![false; 5],
            rows,
        });
    }
}

impl Narrative<'_> {
    pub(super) fn outcome(&self, doc: &mut Doc) {
        doc.push(Block::Heading("Outcome"));
        let rows: Vec<Row> = self
            .of_kind("diff")
            .map(|ev| match ev.body().and_then(|b| b.get("diff")) {
                None => self.erased_row(ev),
                Some(d) => vec![
                    Line::new().ours(self.time(ev)),
                    Line::new().agent(text(d, "/op").unwrap_or("")),
                    Line::new().agent(text(d, "/system").unwrap_or("")),
                    Line::new().agent(text(d, "/resource").unwrap_or("")),
                    change(d.get("before"), d.get("after")),
                ],
            })
            .collect();
        if rows.is_empty() {
            doc.push(Block::Text(Line::new().ours("no diff recorded")));
        } else {
            doc.push(Block::Table {
                head: vec!["TIME", "OP", "SYSTEM", "RESOURCE", "BEFORE → AFTER"],
                right: vec![false; 5],
                rows,
            });
        }
        let end = self
            .v
            .session
            .end
            .as_ref()
            .and_then(|a| self.v.event(a.leaf_index));
        let Some(ev) = end else {
            doc.push(Block::Text(
                Line::new()
                    .ours("no session.end recorded: the run is still open, or never said how it ended")
                    .tone(Tone::Warn),
            ));
            return;
        };
        let Some(o) = ev.body().and_then(|b| b.get("outcome")) else {
            doc.push(Block::Field("ended", vec![self.erased(ev)]));
            return;
        };
        let status = text(o, "/status").unwrap_or("-");
        doc.push(Block::Field(
            "ended",
            vec![Line::new()
                .agent(status)
                .tone(status_tone(status))
                .ours(format!(" at {}", ev.ts))],
        ));
        optional(doc, "summary", text(o, "/summary"));
        for (label, ptr) in [("outputs", "/outputs"), ("effects", "/effects")] {
            let vs = array(o, ptr);
            if !vs.is_empty() {
                let lines = vs.iter().map(|v| Line::new().value(v)).collect();
                doc.push(Block::Field(label, lines));
            }
        }
    }

    pub(super) fn notes(&self, doc: &mut Doc) {
        let notes: Vec<&ViewEvent> = self.of_kind("note").collect();
        if notes.is_empty() {
            return;
        }
        doc.push(Block::Heading("Notes"));
        for ev in notes {
            let line = match ev.body().and_then(|b| text(b, "/note/text")) {
                Some(t) => Line::new().ours(format!("{}  ", self.time(ev))).agent(t),
                None => self.erased(ev),
            };
            doc.push(Block::Text(line));
        }
    }

    pub(super) fn integrity(&self, doc: &mut Doc) {
        doc.push(Block::Heading("Integrity"));
        let i = &self.v.integrity;
        let n = self.v.events.len();
        let mut line = match &i.checkpoint {
            Some(cp) => Line::new().ours(format!(
                "checkpoint size {}, root {}: ",
                cp.size,
                cp.root.to_base64()
            )),
            None => Line::new().ours("no valid signed checkpoint: "),
        };
        line = if i.verified as usize == n && i.ok() {
            line.ours(format!("inclusion of all {n} events verified"))
                .tone(Tone::Good)
        } else {
            line.ours(format!(
                "inclusion of {} of {n} events verified",
                i.verified
            ))
            .tone(Tone::Warn)
        };
        let erased = self.v.events.iter().filter(|e| e.erased).count();
        if erased > 0 {
            line = line.ours(format!(
                "; {erased} bodies erased (their leaves were checked)"
            ));
        }
        doc.push(Block::Text(line));
        if !i.not_covered.is_empty() {
            let mut leaves = i.not_covered.clone();
            leaves.sort_unstable();
            let n = leaves.len() as u64;
            doc.push(Block::Text(
                Line::new()
                    .ours(format!(
                        "{} not yet covered by a signed checkpoint ({} {}): run \
                         `agentrail checkpoint --new`, then look again",
                        count(n, "event is", "events are"),
                        if n == 1 { "leaf" } else { "leaves" },
                        leaf_list(&leaves)
                    ))
                    .tone(Tone::Warn),
            ));
        }
        if !i.ok() {
            doc.push(Block::Text(
                Line::new()
                    .ours(format!(
                        "FAILED: {} found",
                        count(i.problems.len() as u64, "problem", "problems")
                    ))
                    .tone(Tone::Bad),
            ));
            for p in &i.problems {
                doc.push(Block::Text(
                    Line::new().ours("INVALID ").tone(Tone::Bad).agent(p),
                ));
            }
        }
    }
}

/// A field whose value an event may leave out: shown only when present.
fn optional(doc: &mut Doc, label: &'static str, value: Option<&str>) {
    if let Some(v) = value {
        doc.push(Block::Field(label, vec![Line::new().agent(v)]));
    }
}

/// A diff's before and after, compactly: for two objects only the members that changed.
fn change(before: Option<&Value>, after: Option<&Value>) -> Line {
    let side = |l: Line, v: Option<&Value>| match v {
        Some(v) => l.json(v),
        None => l.ours("(not recorded)"),
    };
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            let mut line = Line::new();
            for k in keys.into_iter().filter(|k| b.get(*k) != a.get(*k)) {
                if !line.is_empty() {
                    line = line.ours("; ");
                }
                line = line.agent(k).ours(": ");
                line = side(line, b.get(k)).ours(" → ");
                line = side(line, a.get(k));
            }
            if line.is_empty() {
                line.ours("(no change)")
            } else {
                line
            }
        }
        _ => side(side(Line::new(), before).ours(" → "), after),
    }
}

/// Leaf indexes, runs shortened: `40-47, 52`.
fn leaf_list(leaves: &[u64]) -> String {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &l in leaves {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == l => *end = l,
            _ => runs.push((l, l)),
        }
    }
    runs.iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
