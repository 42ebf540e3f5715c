//! The report as a Markdown document (GitHub-flavoured: tables). Every string that came from an
//! agent or from configuration is a code span ([`text::markdown`]), with `|` escaped inside
//! table cells; everything else is our own words and numbers.

use super::{AgentAssessment, LayerCounts, LayerScore, Period, Report, Score, CONTROLS};
use crate::text;
use std::fmt::Write as _;

/// Agent text as a code span.
fn code(s: &str) -> String {
    text::markdown(s)
}

/// Agent text as a code span inside a table cell, where a `|` would end the cell.
fn cell(s: &str) -> String {
    text::markdown(s).replace('|', "\\|")
}

fn cells<S: AsRef<str>>(v: &[S]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.iter()
        .map(|s| cell(s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt_cell(s: Option<&str>) -> String {
    s.map_or_else(|| "—".into(), cell)
}

fn codes<S: AsRef<str>>(v: &[S]) -> String {
    v.iter()
        .map(|s| code(s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The period, with the agent-free words around the given ends.
pub(super) fn period(p: &Period, quote: impl Fn(&str) -> String) -> String {
    match (&p.from, &p.to) {
        (Some(f), Some(t)) => format!("from {} to {}", quote(f), quote(t)),
        (Some(f), None) => format!("from {} to the time of the report", quote(f)),
        (None, Some(t)) => format!("from the beginning of the log to {}", quote(t)),
        (None, None) => "the whole log".into(),
    }
}

/// The counts, in words: "4 sessions, 4 considered: 3 covered, 0 partial, 1 absent; starts 3,
/// starts without initiator 1". A breakdown count (`..._without_...`, `not_...`, unresolved) is
/// left out when it is zero; the JSON has them all.
pub(super) fn counts(c: &LayerCounts) -> String {
    let mut out = format!(
        "{}, {} considered: {} covered, {} partial, {} absent",
        super::plural(c.sessions, "session", "sessions"),
        c.considered,
        c.covered,
        c.partial,
        c.absent
    );
    let breakdown =
        |k: &str| k.contains("without") || k.starts_with("not_") || k.ends_with("unresolved");
    let shown = c.detail.iter().filter(|(k, v)| *v > 0 || !breakdown(k));
    for (i, (k, v)) in shown.enumerate() {
        out.push_str(if i == 0 { "; " } else { ", " });
        let _ = write!(out, "{} {v}", k.replace('_', " "));
    }
    out
}

pub(super) fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Agent gap assessment\n");
    let _ = writeln!(o, "**{}**\n", r.summary.sentence);
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Period | {} |", period(&r.period, cell));
    let _ = writeln!(o, "| Log | {} |", cell(&r.log.origin));
    let _ = writeln!(o, "| Tree size | {} |", r.log.tree_size);
    let _ = writeln!(o, "| Policy set | {} |", cell(&r.log.policy_set_hash));
    let _ = writeln!(o, "| Generated at | {} |", cell(&r.log.generated_at));
    let _ = writeln!(
        o,
        "\nEach layer is scored from the events recorded in the period: Yes when every session \
         records it, Partial when some do, No when none do or the agent has no session in the \
         period, N/A when it applies to no session (no model calls: no decision to explain).\n"
    );

    let _ = writeln!(o, "## Coverage\n");
    let _ = writeln!(
        o,
        "| Agent | Kind | Owner | Intent | Scope | Decision trace | Outcome | Violations |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for a in &r.agents {
        let discovered = if a.agent.registered {
            ""
        } else {
            " (discovered)"
        };
        let _ = write!(
            o,
            "| {}{discovered} | {} | {} |",
            cell(&a.agent.id),
            opt_cell(a.agent.kind.as_deref()),
            opt_cell(a.agent.owner.as_deref()),
        );
        for l in &a.layers {
            let _ = write!(o, " {} |", score_cell(l.score));
        }
        let _ = writeln!(o, " {} |", a.violations.count);
    }
    if r.agents.is_empty() {
        let _ = writeln!(
            o,
            "\nNo agent is registered and none was seen in the period."
        );
    }

    if !r.agents.is_empty() {
        let _ = writeln!(o, "\n## Agents");
    }
    for (i, a) in r.agents.iter().enumerate() {
        agent(&mut o, i + 1, a);
    }

    let _ = writeln!(o, "\n## Unregistered principals\n");
    if r.principals.is_empty() {
        let _ = writeln!(
            o,
            "Every principal seen in the period belongs to a registered agent."
        );
    } else {
        let _ = writeln!(
            o,
            "Identities agents acted as that no registered agent declares.\n"
        );
        let _ = writeln!(
            o,
            "| Principal | First seen | Last seen | Sessions | Actions | Systems | Agents |"
        );
        let _ = writeln!(o, "|---|---|---|---|---|---|---|");
        for p in &r.principals {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} |",
                cell(&p.principal),
                cell(&p.first_seen),
                cell(&p.last_seen),
                p.sessions,
                p.actions,
                cells(&p.systems),
                cells(&p.agents),
            );
        }
    }

    let _ = writeln!(o, "\n## Remediation plan\n");
    if r.remediation.is_empty() {
        let _ = writeln!(
            o,
            "Nothing to remediate: every agent is covered on every layer."
        );
    } else {
        let _ = writeln!(o, "Highest risk first.\n");
    }
    for (n, item) in r.remediation.iter().enumerate() {
        let a = &r.agents[item.agent];
        let name = if a.agent.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", code(&a.agent.name))
        };
        let _ = writeln!(o, "{}. {}{name}: {}", n + 1, code(&a.agent.id), item.why);
        for action in &item.actions {
            let _ = writeln!(o, "   - {action}");
        }
    }

    let _ = writeln!(o, "\n## Controls\n");
    for (id, what) in CONTROLS {
        let _ = writeln!(o, "- {id}: {what}.");
    }
    o
}

fn score_cell(s: Score) -> &'static str {
    match s {
        Score::Yes => "Yes",
        Score::Partial => "**Partial**",
        Score::No => "**No**",
        Score::NotApplicable => "N/A",
    }
}

fn agent(o: &mut String, n: usize, a: &AgentAssessment) {
    let g = &a.agent;
    let _ = writeln!(o, "\n### {n}. {}\n", code(&g.id));
    if !g.name.is_empty() {
        let _ = writeln!(o, "- Name: {}", code(&g.name));
    }
    let _ = writeln!(
        o,
        "- Kind: {}",
        g.kind.as_deref().map_or("not recorded".into(), code)
    );
    let _ = writeln!(
        o,
        "- Owner: {}",
        g.owner.as_deref().map_or("none named".into(), code)
    );
    let _ = writeln!(
        o,
        "- Inventory: {}",
        if g.registered {
            "registered"
        } else {
            "discovered in the events, not in agents.toml"
        }
    );
    let _ = writeln!(
        o,
        "- Policy: {}",
        if g.governed {
            "governed by a Cedar scope policy"
        } else {
            "no Cedar scope policy"
        }
    );
    let _ = writeln!(
        o,
        "- Permissions: {}",
        if g.elevated { "elevated" } else { "ordinary" }
    );
    let _ = writeln!(
        o,
        "- Data: {}",
        g.classification
            .as_deref()
            .map_or("not classified".into(), code)
    );
    let _ = writeln!(o, "- Sessions in the period: {}", a.sessions);
    let _ = writeln!(o, "- Coverage: {}", a.coverage.as_str());
    for l in &a.layers {
        layer(o, l);
    }
    let v = &a.violations;
    let _ = writeln!(o, "\n#### Scope violations\n");
    if v.count == 0 {
        let _ = writeln!(o, "None: no action or start was denied by a scope policy.");
    } else {
        let _ = writeln!(
            o,
            "{} in {}, denied by {} (controls {}). Examples:\n",
            super::plural(v.count, "scope violation", "scope violations"),
            super::plural(v.sessions, "session", "sessions"),
            codes(&v.policies),
            super::VIOLATION_CONTROLS.join(", ")
        );
        for e in &v.examples {
            let _ = writeln!(
                o,
                "- session {} started {}: {} denied by {}",
                code(&e.session_id),
                code(&e.started_at),
                e.count,
                codes(&e.policies)
            );
        }
    }
    if v.policy_errors > 0 {
        let _ = writeln!(
            o,
            "\n{} failed to evaluate.",
            super::plural(v.policy_errors, "policy decision", "policy decisions")
        );
    }
}

fn layer(o: &mut String, l: &LayerScore) {
    let _ = writeln!(o, "\n#### {}: {}\n", l.layer.name(), l.score.label());
    let _ = writeln!(o, "{}\n", sentence(&l.reason));
    let _ = writeln!(o, "- Counts: {}", counts(&l.counts));
    if !l.examples.is_empty() {
        let what = if l.score == Score::Yes {
            "covered"
        } else {
            "falling short"
        };
        let _ = writeln!(o, "- Examples ({what}): {}", codes(&l.examples));
    }
    let _ = writeln!(o, "- Controls: {}", l.controls().join(", "));
    if let Some(fix) = &l.to_reach_yes {
        let _ = writeln!(o, "- To reach Yes: {fix}");
    }
}

/// Our own words as a sentence: a capital first, a full stop last ("no evidence in the
/// period" → "No evidence in the period.").
pub(super) fn sentence(s: &str) -> String {
    let mut c = s.chars();
    let mut out: String = match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => return String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}
