//! The bundle's HTML: `index.html` and each session's `narrative.html`. Self-contained pages:
//! no script, nothing loaded from anywhere, one inline style sheet allowed by its hash in
//! [`CSP`], links only to files of the bundle. Everything that came from an agent, the
//! inventory or the log goes through [`html`].

use super::super::session::escape::html;
use super::*;
use std::fmt::Write as _;

/// The pages' only style sheet; [`CSP`] allows exactly this text by its SHA-256 (the test
/// `csp_allows_exactly_the_style` prints the value to set after a change).
const STYLE: &str = r#"
:root{color-scheme:light}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;background:#fff;max-width:72rem;margin:0 auto;padding:2rem 1.5rem}
h1{font-size:1.6rem;margin:0 0 1rem}
h2{font-size:1.25rem;margin:2rem 0 .6rem;padding-bottom:.25rem;border-bottom:2px solid #d2d2d7}
h3{font-size:1.05rem;margin:1.5rem 0 .4rem}
p,ul{margin:.4rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0}
dt{font-weight:600}
dd{margin:0}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d2d2d7;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}
td.n{text-align:right}
code{font:.9em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.bad{color:#8b1111}
.good{color:#14532d}
.warn{color:#6b4300}
.dim{color:#6e6e73}
nav{margin:0 0 1rem}
a{color:#0b57d0}
@media print{body{max-width:none;padding:0;font-size:10.5pt}a{color:inherit;text-decoration:none}tr,li{break-inside:avoid}h2,h3{break-after:avoid}}
"#;

/// Nothing may load, run, submit or be framed; only [`STYLE`], by its hash. (`frame-ancestors`
/// is not honoured in a `<meta>`, so it is left out.)
pub const CSP: &str = "default-src 'none'; style-src 'sha256-shIeOVKXbqTTB5Mou6c1A3Fwt+zbHwNXxBa/267WZ74='; img-src 'none'; base-uri 'none'; form-action 'none'";

/// Where a page's "back to the bundle" link points.
#[derive(Debug, Clone, Copy)]
pub enum Back {
    /// No link (the index itself).
    None,
    /// `index.html` this many directories up.
    Up(usize),
}

/// A whole page around an HTML fragment; `title` is our text, escaped here.
pub fn page(title: &str, body: &str, back: Back) -> String {
    let mut o = String::with_capacity(body.len() + STYLE.len() + 512);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        html(title)
    );
    if let Back::Up(n) = back {
        let _ = writeln!(
            o,
            "<nav><a href=\"{}index.html\">Evidence bundle</a></nav>",
            "../".repeat(n)
        );
    }
    o.push_str(body);
    o.push_str("</body>\n</html>\n");
    o
}

/// What `index.html` shows.
pub struct IndexInput<'a> {
    pub info: &'a Value,
    pub controls: &'a Value,
    pub sessions: &'a [(String, Vec<LeafRow>)],
    pub dirs: &'a [String],
    pub assessment: Option<&'a str>,
}

fn c(s: &str) -> String {
    format!("<code>{}</code>", html(s))
}

fn link(path: &str, text: &str) -> String {
    // Bundle paths are [A-Za-z0-9._/-] only (valid_path), so they need no escaping in an href.
    debug_assert!(valid_path(path.trim_end_matches('/')));
    format!("<a href=\"{path}\">{}</a>", html(text))
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The bundle's front page.
pub fn index(input: &IndexInput<'_>) -> String {
    let info = input.info;
    let period = info["kind"] == "period";
    let mut o = String::new();
    let origin = s(info, "/log/origin");
    let _ = writeln!(o, "<h1>Evidence bundle: {}</h1>", c(origin));
    let _ = writeln!(o, "<dl>");
    if period {
        let to = info
            .pointer("/period/to")
            .and_then(Value::as_str)
            .map_or_else(
                || "the last checkpoint when the bundle was made".to_string(),
                c,
            );
        let _ = writeln!(
            o,
            "<dt>Period</dt><dd>from {} to {}</dd>",
            c(s(info, "/period/from")),
            to
        );
        let _ = writeln!(
            o,
            "<dt>Population</dt><dd>leaves {} to {} of the log: {} leaves, {} sessions, {} agentrail records</dd>",
            info["start"]["size"], info["end"]["size"], info["population"]["leaves"],
            info["population"]["sessions"], info["population"]["records"]
        );
        let _ = writeln!(
            o,
            "<dt>Start checkpoint</dt><dd>size {}, root {}</dd>",
            info["start"]["size"],
            c(s(info, "/start/root"))
        );
    } else {
        let _ = writeln!(
            o,
            "<dt>Session</dt><dd>{}</dd>",
            c(s(info, "/sample/sessions/0"))
        );
    }
    let _ = writeln!(
        o,
        "<dt>End checkpoint</dt><dd>size {}, root {}</dd>",
        info["end"]["size"],
        c(s(info, "/end/root"))
    );
    let _ = writeln!(
        o,
        "<dt>Verifier key</dt><dd>{}</dd>",
        c(s(info, "/log/key"))
    );
    let _ = writeln!(o, "<dt>Made</dt><dd>{}</dd>", c(s(info, "/created_at")));
    if period {
        let sample = &info["sample"];
        let how = match sample["method"].as_str() {
            Some("list") => "the auditor's own list of sessions".to_string(),
            _ => format!(
                "{} session(s) (of {} requested) with the smallest SHA-256(seed || 0x00 || session id), of {} candidates; seed {} ({})",
                sample["sessions"].as_array().map_or(0, Vec::len),
                sample["requested"],
                sample["candidates"],
                c(s(sample, "/seed")),
                if sample["seed_source"] == "end-root" {
                    "the end checkpoint's root"
                } else {
                    "given"
                }
            ),
        };
        let _ = writeln!(o, "<dt>Sample</dt><dd>{how}</dd>");
        let agents: Vec<String> = info["agents"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(c).collect())
            .unwrap_or_default();
        if !agents.is_empty() {
            let _ = writeln!(o, "<dt>Agents</dt><dd>{}</dd>", agents.join(", "));
        }
    }
    let _ = writeln!(o, "</dl>");
    let _ = writeln!(
        o,
        "<p>Check every file, proof and signature offline with <code>agentrail verify-bundle \
         &lt;this bundle&gt; --key {}</code>, using the verifier key you obtained from the log's \
         operator, not the copy in this bundle.</p>",
        html(s(info, "/log/key"))
    );
    if let Some(a) = input.assessment {
        let _ = writeln!(
            o,
            "<h2>Gap assessment</h2>\n<p>{}</p>\n<p class=\"dim\">The team's own report of the period: signed in the manifest, but not re-derived by a verifier (it would need every event of the period).</p>\n<p>{} · {} · {}</p>",
            html(a),
            link(ASSESSMENT_HTML, "report"),
            link(ASSESSMENT_MD, "Markdown"),
            link(ASSESSMENT_JSON, "JSON")
        );
    }
    let _ = writeln!(
        o,
        "<h2>Sampled sessions</h2>\n<table><thead><tr><th>#</th><th>Session</th><th>Agents</th><th>First event</th><th>Events</th><th>Files</th></tr></thead><tbody>"
    );
    for (k, ((id, rows), dir)) in input.sessions.iter().zip(input.dirs).enumerate() {
        let mut agents: Vec<&str> = rows.iter().map(|r| r.agent_id.as_str()).collect();
        agents.sort_unstable();
        agents.dedup();
        // From the leaf, not the row's columns: the bytes are what the verifier has too.
        let first = rows
            .iter()
            .filter_map(|r| event::parse_leaf(&r.leaf).ok())
            .map(|h| h.ts)
            .min_by_key(|t| agentrail_core::timefmt::sortable(t))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{} · {}</td></tr>",
            k + 1,
            format_args!("<a href=\"{dir}/narrative.html\">{}</a>", c(id)),
            agents.iter().map(|a| c(a)).collect::<Vec<_>>().join(", "),
            c(&first),
            rows.len(),
            link(&format!("{dir}/narrative.md"), "Markdown"),
            link(&format!("{dir}/events/"), "events and proofs"),
        );
    }
    let _ = writeln!(o, "</tbody></table>");
    let _ = writeln!(
        o,
        "<h2>Controls</h2>\n<table><thead><tr><th>Criterion</th><th>What the bundle shows</th><th>Files</th></tr></thead><tbody>"
    );
    if let Some(m) = input.controls.as_object() {
        for (id, v) in m {
            let files: Vec<String> = v["files"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(|f| link(f, f))
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "<tr><td><strong>{}</strong><br><span class=\"dim\">{}</span></td><td>{}</td><td>{}</td></tr>",
                html(id),
                html(s(v, "/criterion")),
                html(s(v, "/evidence")),
                files.join("<br>")
            );
        }
    }
    let _ = writeln!(o, "</tbody></table>");
    let _ = writeln!(o, "<h2>Files</h2>\n<ul>");
    let mut listed = vec![
        (INVENTORY, "the inventory in force at the end checkpoint"),
        (
            IN_FORCE,
            "the scope policies in force there, with their hashes",
        ),
        (CONTROLS, "the control mapping, as JSON"),
        (BUNDLE_JSON, "what this bundle is: log, bounds, sample"),
        (
            KEY,
            "the log's verifier key (compare it with the one you hold)",
        ),
        (END_CHECKPOINT, "the end checkpoint, signed"),
    ];
    if period {
        listed.extend([
            (START_CHECKPOINT, "the start checkpoint, signed (absent when the period starts at the log's first leaf)"),
            (CONSISTENCY, "the consistency proof between them"),
            (LEAVES, "the population: every leaf between them"),
            (SESSIONS, "the sessions derived from those leaves"),
            (BOUNDARIES, "the leaves that place each bound"),
        ]);
    }
    for (f, what) in listed {
        let _ = writeln!(o, "<li>{}: {}</li>", link(f, f), html(what));
    }
    let _ = writeln!(o, "</ul>");
    page(&format!("Evidence bundle: {origin}"), &o, Back::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use sha2::{Digest, Sha256};

    #[test]
    fn csp_allows_exactly_the_style() {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
        let want = format!("'sha256-{hash}'");
        assert!(CSP.contains(&want), "the style changed: put {want} in CSP");
    }

    #[test]
    fn page_escapes_its_title_and_loads_nothing() {
        let p = page("<script>x</script>", "<p>ok</p>", Back::Up(2));
        assert!(p.contains("&lt;script&gt;"), "{p}");
        assert!(!p.contains("<script"), "{p}");
        assert!(p.contains("href=\"../../index.html\""), "{p}");
        assert!(!p.contains("src="), "{p}");
    }
}
