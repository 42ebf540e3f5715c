//! The report as one self-contained HTML page: no script, no external asset, no link off the
//! page (only in-page anchors), one inline `<style>` allowed by its hash in [`CSP`]. Every
//! string that came from an agent or from configuration goes through [`text::html`]; anchors
//! are numbered (`agent-3`), never derived from agent text.

use super::md::{counts, period, sentence};
use super::{plural, AgentAssessment, LayerScore, Report, Score, CONTROLS, VIOLATION_CONTROLS};
use crate::text;
use std::fmt::Write as _;

/// The page's only style sheet. [`CSP`] allows exactly this text by its SHA-256: change one
/// byte and update the hash (the test `csp_hash_matches_the_style` prints the new value).
pub(super) const STYLE: &str = r#"
:root{color-scheme:light}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;background:#fff;max-width:72rem;margin:0 auto;padding:2rem 1.5rem}
h1{font-size:1.7rem;margin:0 0 1rem}
h2{font-size:1.3rem;margin:2.5rem 0 .75rem;padding-bottom:.25rem;border-bottom:2px solid #d2d2d7}
h3{font-size:1.15rem;margin:2.25rem 0 .5rem}
h4{font-size:1rem;margin:1.25rem 0 .25rem}
p,ul,ol{margin:.4rem 0}
.summary{font-size:1.25rem;font-weight:600;margin:1rem 0 1.5rem;padding:.75rem 1rem;border-left:5px solid #1d1d1f;background:#f5f5f7}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d2d2d7;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}
td.n{text-align:right}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.s{display:inline-block;min-width:4.5em;padding:0 .4em;border-radius:3px;font-weight:700;text-align:center}
.s-yes{color:#14532d;background:#d3f0dc}
.s-partial{color:#6b4300;background:#fdecb5}
.s-no{color:#8b1111;background:#f8d3d1}
.s-na{color:#424245;background:#e8e8ed}
td.s-yes,td.s-partial,td.s-no,td.s-na{font-weight:700;text-align:center}
.layer{margin:.75rem 0 1rem;padding:.25rem 0 .25rem 1rem;border-left:3px solid #d2d2d7}
.muted{color:#6e6e73}
a{color:#0b57d0}
@media print{body{max-width:none;padding:0;font-size:10.5pt}a{color:inherit;text-decoration:none}.layer,tr,li{break-inside:avoid}h2,h3,h4{break-after:avoid}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"#;

/// The Content-Security-Policy of the page: nothing may load, run, submit or frame it; only the
/// inline [`STYLE`], by its hash. The page carries it in a `<meta>`; a server sends it as a
/// header too (`frame-ancestors` only takes effect there).
pub const CSP: &str = "default-src 'none'; style-src 'sha256-80q4CF3B481PP0/vYLmfp8nmH+s8Z5gkCwXrBBemx60='; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Agent text, escaped.
fn h(s: &str) -> String {
    text::html(s)
}

/// Agent text, escaped, in a `<code>`.
fn c(s: &str) -> String {
    format!("<code>{}</code>", text::html(s))
}

fn cs<S: AsRef<str>>(v: &[S]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.iter()
        .map(|s| c(s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn opt(s: Option<&str>, none: &str) -> String {
    s.map_or_else(|| h(none), c)
}

fn class(s: Score) -> &'static str {
    match s {
        Score::Yes => "s-yes",
        Score::Partial => "s-partial",
        Score::No => "s-no",
        Score::NotApplicable => "s-na",
    }
}

fn badge(s: Score) -> String {
    format!(r#"<span class="s {}">{}</span>"#, class(s), s.label())
}

/// [`CSP`] as a `<meta>` element can carry it: browsers ignore (and warn about)
/// `frame-ancestors` there, so it is left to the header.
fn meta_csp() -> &'static str {
    CSP.trim_end_matches("; frame-ancestors 'none'")
}

pub(super) fn render(r: &Report) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let csp = meta_csp();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Agent gap assessment</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    );
    let _ = writeln!(o, "<header>\n<h1>Agent gap assessment</h1>");
    let _ = writeln!(
        o,
        "<p class=\"summary\" id=\"summary\">{}</p>",
        h(&r.summary.sentence)
    );
    let _ = writeln!(o, "<dl class=\"meta\">");
    let _ = writeln!(o, "<dt>Period</dt><dd>{}</dd>", period(&r.period, c));
    let _ = writeln!(o, "<dt>Log</dt><dd>{}</dd>", c(&r.log.origin));
    let _ = writeln!(o, "<dt>Tree size</dt><dd>{}</dd>", r.log.tree_size);
    let _ = writeln!(
        o,
        "<dt>Policy set</dt><dd>{}</dd>",
        c(&r.log.policy_set_hash)
    );
    let _ = writeln!(
        o,
        "<dt>Generated at</dt><dd>{}</dd>",
        c(&r.log.generated_at)
    );
    let _ = writeln!(o, "</dl>");
    let _ = writeln!(
        o,
        "<p class=\"muted\">Each layer is scored from the events recorded in the period: Yes when \
         every session records it, Partial when some do, No when none do or the agent has no \
         session in the period, N/A when it applies to no session (no model calls: no decision \
         to explain).</p>\n</header>"
    );

    coverage(&mut o, r);
    if !r.agents.is_empty() {
        let _ = writeln!(o, "<section id=\"agents\">\n<h2>Agents</h2>");
        for (i, a) in r.agents.iter().enumerate() {
            agent(&mut o, i + 1, a);
        }
        let _ = writeln!(o, "</section>");
    }
    principals(&mut o, r);
    remediation(&mut o, r);

    let _ = writeln!(
        o,
        "<section id=\"controls\">\n<h2>Controls</h2>\n<dl class=\"meta\">"
    );
    for (id, what) in CONTROLS {
        let _ = writeln!(o, "<dt>{id}</dt><dd>{}</dd>", h(&sentence(what)));
    }
    let _ = writeln!(o, "</dl>\n</section>\n</body>\n</html>");
    o
}

fn coverage(o: &mut String, r: &Report) {
    let _ = writeln!(o, "<section id=\"coverage\">\n<h2>Coverage</h2>");
    if r.agents.is_empty() {
        let _ = writeln!(
            o,
            "<p>No agent is registered and none was seen in the period.</p>\n</section>"
        );
        return;
    }
    let _ = writeln!(
        o,
        "<table>\n<thead><tr><th>Agent</th><th>Kind</th><th>Owner</th><th>Intent</th>\
         <th>Scope</th><th>Decision trace</th><th>Outcome</th><th>Violations</th></tr></thead>\n<tbody>"
    );
    for (i, a) in r.agents.iter().enumerate() {
        let g = &a.agent;
        let _ = write!(
            o,
            "<tr><td><a href=\"#agent-{}\">{}</a>{}</td><td>{}</td><td>{}</td>",
            i + 1,
            c(&g.id),
            if g.registered { "" } else { " (discovered)" },
            opt(g.kind.as_deref(), "—"),
            opt(g.owner.as_deref(), "—"),
        );
        for l in &a.layers {
            let _ = write!(
                o,
                "<td class=\"{}\">{}</td>",
                class(l.score),
                l.score.label()
            );
        }
        let _ = writeln!(o, "<td class=\"n\">{}</td></tr>", a.violations.count);
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</section>");
}

fn agent(o: &mut String, n: usize, a: &AgentAssessment) {
    let g = &a.agent;
    let _ = writeln!(
        o,
        "<section class=\"agent\" id=\"agent-{n}\">\n<h3>{n}. {}</h3>",
        c(&g.id)
    );
    let _ = writeln!(o, "<dl class=\"meta\">");
    let rows: [(&str, String); 9] = [
        (
            "Name",
            opt(
                Some(g.name.as_str()).filter(|n| !n.is_empty()),
                "none given",
            ),
        ),
        ("Kind", opt(g.kind.as_deref(), "not recorded")),
        ("Owner", opt(g.owner.as_deref(), "none named")),
        (
            "Inventory",
            h(if g.registered {
                "registered"
            } else {
                "discovered in the events, not in agents.toml"
            }),
        ),
        (
            "Policy",
            h(if g.governed {
                "governed by a Cedar scope policy"
            } else {
                "no Cedar scope policy"
            }),
        ),
        (
            "Permissions",
            h(if g.elevated { "elevated" } else { "ordinary" }),
        ),
        ("Data", opt(g.classification.as_deref(), "not classified")),
        ("Sessions in the period", a.sessions.to_string()),
        ("Coverage", h(a.coverage.as_str())),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "<dt>{k}</dt><dd>{v}</dd>");
    }
    let _ = writeln!(o, "</dl>");
    for l in &a.layers {
        layer(o, l);
    }
    let v = &a.violations;
    let _ = writeln!(o, "<h4>Scope violations</h4>");
    if v.count == 0 {
        let _ = writeln!(
            o,
            "<p>None: no action or start was denied by a scope policy.</p>"
        );
    } else {
        let _ = writeln!(
            o,
            "<p>{} in {}, denied by {} (controls {}). Examples:</p>\n<ul>",
            plural(v.count, "scope violation", "scope violations"),
            plural(v.sessions, "session", "sessions"),
            cs(&v.policies),
            VIOLATION_CONTROLS.join(", ")
        );
        for e in &v.examples {
            let _ = writeln!(
                o,
                "<li>session {} started {}: {} denied by {}</li>",
                c(&e.session_id),
                c(&e.started_at),
                e.count,
                cs(&e.policies)
            );
        }
        let _ = writeln!(o, "</ul>");
    }
    if v.policy_errors > 0 {
        let _ = writeln!(
            o,
            "<p>{} failed to evaluate.</p>",
            plural(v.policy_errors, "policy decision", "policy decisions")
        );
    }
    let _ = writeln!(o, "</section>");
}

fn layer(o: &mut String, l: &LayerScore) {
    let _ = writeln!(
        o,
        "<div class=\"layer\">\n<h4>{}: {}</h4>\n<p>{}</p>\n<ul>",
        l.layer.name(),
        badge(l.score),
        h(&sentence(&l.reason))
    );
    let _ = writeln!(o, "<li>Counts: {}</li>", h(&counts(&l.counts)));
    if !l.examples.is_empty() {
        let what = if l.score == Score::Yes {
            "covered"
        } else {
            "falling short"
        };
        let _ = writeln!(o, "<li>Examples ({what}): {}</li>", cs(&l.examples));
    }
    let _ = writeln!(o, "<li>Controls: {}</li>", l.controls().join(", "));
    if let Some(fix) = &l.to_reach_yes {
        let _ = writeln!(o, "<li><strong>To reach Yes:</strong> {}</li>", h(fix));
    }
    let _ = writeln!(o, "</ul>\n</div>");
}

fn principals(o: &mut String, r: &Report) {
    let _ = writeln!(
        o,
        "<section id=\"principals\">\n<h2>Unregistered principals</h2>"
    );
    if r.principals.is_empty() {
        let _ = writeln!(
            o,
            "<p>Every principal seen in the period belongs to a registered agent.</p>\n</section>"
        );
        return;
    }
    let _ = writeln!(
        o,
        "<p>Identities agents acted as that no registered agent declares.</p>\n<table>\n\
         <thead><tr><th>Principal</th><th>First seen</th><th>Last seen</th><th>Sessions</th>\
         <th>Actions</th><th>Systems</th><th>Agents</th></tr></thead>\n<tbody>"
    );
    for p in &r.principals {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td>{}</td><td>{}</td></tr>",
            c(&p.principal),
            c(&p.first_seen),
            c(&p.last_seen),
            p.sessions,
            p.actions,
            cs(&p.systems),
            cs(&p.agents),
        );
    }
    let _ = writeln!(o, "</tbody>\n</table>\n</section>");
}

fn remediation(o: &mut String, r: &Report) {
    let _ = writeln!(o, "<section id=\"remediation\">\n<h2>Remediation plan</h2>");
    if r.remediation.is_empty() {
        let _ = writeln!(
            o,
            "<p>Nothing to remediate: every agent is covered on every layer.</p>\n</section>"
        );
        return;
    }
    let _ = writeln!(o, "<p>Highest risk first.</p>\n<ol>");
    for item in &r.remediation {
        let a = &r.agents[item.agent];
        let name = if a.agent.name.is_empty() {
            String::new()
        } else {
            format!(" ({})", c(&a.agent.name))
        };
        let _ = writeln!(
            o,
            "<li><a href=\"#agent-{}\">{}</a>{name}: {}\n<ul>",
            item.agent + 1,
            c(&a.agent.id),
            h(&item.why)
        );
        for action in &item.actions {
            let _ = writeln!(o, "<li>{}</li>", h(action));
        }
        let _ = writeln!(o, "</ul>\n</li>");
    }
    let _ = writeln!(o, "</ol>\n</section>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    #[test]
    fn csp_hash_matches_the_style() {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        let want = format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        );
        assert_eq!(CSP, want, "the style changed: set CSP to the value above");
        assert!(!meta_csp().contains("frame-ancestors") && meta_csp().contains(&hash));
    }
}
