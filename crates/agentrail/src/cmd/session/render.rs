//! A small document model for what the session verbs print, and its two renderings: text for a
//! terminal or a pipe (aligned, coloured only on a terminal) and Markdown. Text read from an
//! event enters a document only as an agent piece ([`Line::agent`], [`Line::value`]), which
//! every rendering escapes ([`super::escape`]); the document's own words are pieces of ours.

use super::escape::{self, escape};
use serde_json::Value;
use std::io::IsTerminal;

/// How a piece is emphasized. On a terminal it is a colour; in Markdown only `Strong` and
/// `Bad` show (bold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Strong,
    Dim,
    Good,
    Bad,
    Warn,
}

impl Tone {
    fn ansi(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Strong => Some("1"),
            Tone::Dim => Some("2"),
            Tone::Good => Some("32"),
            Tone::Bad => Some("1;31"),
            Tone::Warn => Some("33"),
        }
    }
}

/// True when standard output is a terminal that wants colour: not piped, `NO_COLOR` unset or
/// empty (no-color.org), and `TERM` not `dumb`.
pub fn color_wanted() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

#[derive(Debug, Clone)]
struct Piece {
    text: String,
    agent: bool,
    /// Alignment space: as is in text, a dash in Markdown (which does not align).
    gap: bool,
    tone: Tone,
}

/// One line of text: our words and the agent's, each with a tone.
#[derive(Debug, Clone, Default)]
pub struct Line(Vec<Piece>);

impl Line {
    pub fn new() -> Line {
        Line::default()
    }

    /// Our own words (labels, counts, times we formatted).
    pub fn ours(mut self, s: impl Into<String>) -> Line {
        self.0.push(Piece {
            text: s.into(),
            agent: false,
            gap: false,
            tone: Tone::Plain,
        });
        self
    }

    /// Text read from an event.
    pub fn agent(mut self, s: &str) -> Line {
        self.0.push(Piece {
            text: s.to_string(),
            agent: true,
            gap: false,
            tone: Tone::Plain,
        });
        self
    }

    /// `n` spaces that align what follows.
    pub fn gap(mut self, n: usize) -> Line {
        self.0.push(Piece {
            text: " ".repeat(n),
            agent: false,
            gap: true,
            tone: Tone::Plain,
        });
        self
    }

    /// A JSON value read from an event: a string as itself, anything else as compact JSON.
    pub fn value(self, v: &Value) -> Line {
        self.agent(&escape::value_text(v))
    }

    /// A JSON value read from an event, as compact JSON (strings quoted).
    pub fn json(self, v: &Value) -> Line {
        self.agent(&serde_json::to_string(v).unwrap_or_default())
    }

    /// Values read from an event, separated by commas.
    pub fn values<'a>(mut self, vs: impl IntoIterator<Item = &'a Value>) -> Line {
        for (i, v) in vs.into_iter().enumerate() {
            if i > 0 {
                self = self.ours(", ");
            }
            self = self.value(v);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends the pieces of `other`, each with its own tone.
    pub fn extend(&mut self, other: Line) {
        self.0.extend(other.0);
    }

    /// Sets the tone of the last piece.
    pub fn tone(mut self, tone: Tone) -> Line {
        if let Some(p) = self.0.last_mut() {
            p.tone = tone;
        }
        self
    }

    fn text(&self, color: bool) -> (String, usize) {
        let mut out = String::new();
        let mut width = 0;
        for p in &self.0 {
            let t = if p.agent {
                escape(&p.text)
            } else {
                p.text.as_str().into()
            };
            width += t.chars().count();
            match p.tone.ansi().filter(|_| color) {
                Some(code) => out.push_str(&format!("\x1b[{code}m{t}\x1b[0m")),
                None => out.push_str(&t),
            }
        }
        (out, width)
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        for p in &self.0 {
            let t = match (p.agent, p.gap) {
                (true, _) => escape::markdown(&p.text),
                (false, true) => " — ".to_string(),
                (false, false) => p.text.clone(),
            };
            let core = t.trim();
            match p.tone {
                Tone::Strong | Tone::Bad if !core.is_empty() => {
                    let lead = &t[..t.len() - t.trim_start().len()];
                    let trail = &t[t.trim_end().len()..];
                    out.push_str(&format!("{lead}**{core}**{trail}"));
                }
                _ => out.push_str(&t),
            }
        }
        out
    }

    /// As HTML phrasing content: every piece escaped ([`escape::html`]), agent pieces in
    /// `<code>`, tones as `<strong>` or a classed `<span>`.
    fn html(&self) -> String {
        let mut out = String::new();
        for p in &self.0 {
            let t = match (p.agent, p.gap) {
                (true, _) => format!("<code>{}</code>", escape::html(&p.text)),
                (false, true) => " — ".to_string(),
                (false, false) => escape::html(&p.text),
            };
            let (open, close) = match p.tone {
                Tone::Plain => ("", ""),
                Tone::Strong => ("<strong>", "</strong>"),
                Tone::Bad => ("<strong class=\"bad\">", "</strong>"),
                Tone::Good => ("<span class=\"good\">", "</span>"),
                Tone::Warn => ("<span class=\"warn\">", "</span>"),
                Tone::Dim => ("<span class=\"dim\">", "</span>"),
            };
            out.push_str(open);
            out.push_str(&t);
            out.push_str(close);
        }
        out
    }
}

/// One block of a document.
#[derive(Debug, Clone)]
pub enum Block {
    /// The document's title.
    Title(Line),
    /// A section: Intent, Scope, ...
    Heading(&'static str),
    /// A part of a section (one decision).
    Subheading(Line),
    /// A label and its value, on one line or more; consecutive fields align their values.
    Field(&'static str, Vec<Line>),
    /// A table; `right` marks the columns aligned right.
    Table {
        head: Vec<&'static str>,
        right: Vec<bool>,
        rows: Vec<Row>,
    },
    /// A line of its own.
    Text(Line),
}

/// The cells of one table row.
pub type Row = Vec<Line>;

/// A document: blocks in order.
#[derive(Debug, Clone, Default)]
pub struct Doc(pub Vec<Block>);

impl Doc {
    pub fn push(&mut self, b: Block) {
        self.0.push(b);
    }

    /// As text: sections indented under their heading, colour only when `color`.
    pub fn to_text(&self, color: bool) -> String {
        let mut out = String::new();
        let mut indent = 0;
        let blocks = &self.0;
        for (i, b) in blocks.iter().enumerate() {
            let pad = " ".repeat(indent);
            match b {
                Block::Title(l) => {
                    out.push_str(&l.clone().tone(Tone::Strong).text(color).0);
                    out.push('\n');
                }
                Block::Heading(h) => {
                    out.push('\n');
                    out.push_str(&Line::new().ours(*h).tone(Tone::Strong).text(color).0);
                    out.push('\n');
                    indent = 2;
                }
                Block::Subheading(l) => {
                    out.push_str(&format!("  {}\n", l.text(color).0));
                    indent = 4;
                }
                Block::Field(label, lines) => {
                    let group = blocks[..=i]
                        .iter()
                        .rev()
                        .take_while(|b| matches!(b, Block::Field(..)))
                        .count();
                    let first = i + 1 - group;
                    let end = blocks[i..]
                        .iter()
                        .position(|b| !matches!(b, Block::Field(..)))
                        .map_or(blocks.len(), |n| i + n);
                    let w = blocks[first..end]
                        .iter()
                        .filter_map(|b| match b {
                            Block::Field(l, _) => Some(l.chars().count()),
                            _ => None,
                        })
                        .max()
                        .unwrap_or(0);
                    let label = Line::new().ours(format!("{label:<w$}")).tone(Tone::Dim);
                    for (k, line) in lines.iter().enumerate() {
                        let head = if k == 0 {
                            label.text(color).0
                        } else {
                            " ".repeat(w)
                        };
                        out.push_str(&format!("{pad}{head}  {}\n", line.text(color).0));
                    }
                    if lines.is_empty() {
                        out.push_str(&format!("{pad}{}\n", label.text(color).0));
                    }
                }
                Block::Table { head, right, rows } => {
                    table_text(&mut out, &pad, head, right, rows, color)
                }
                Block::Text(l) => out.push_str(&format!("{pad}{}\n", l.text(color).0)),
            }
        }
        out
    }

    /// As Markdown: every agent piece a code span.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let mut last_was_list = false;
        for b in &self.0 {
            let list = matches!(b, Block::Field(..));
            if last_was_list && !list {
                out.push('\n');
            }
            last_was_list = list;
            match b {
                Block::Title(l) => out.push_str(&format!("# {}\n\n", l.markdown())),
                Block::Heading(h) => out.push_str(&format!("## {h}\n\n")),
                Block::Subheading(l) => out.push_str(&format!("### {}\n\n", l.markdown())),
                Block::Field(label, lines) => match lines.as_slice() {
                    [one] => out.push_str(&format!("- **{label}:** {}\n", one.markdown())),
                    _ => {
                        out.push_str(&format!("- **{label}:**\n"));
                        for l in lines {
                            out.push_str(&format!("  - {}\n", l.markdown()));
                        }
                    }
                },
                Block::Table { head, right, rows } => {
                    out.push_str(&format!("| {} |\n", head.join(" | ")));
                    let align: Vec<&str> = right
                        .iter()
                        .map(|r| if *r { "--:" } else { "---" })
                        .collect();
                    out.push_str(&format!("| {} |\n", align.join(" | ")));
                    for row in rows {
                        let cells: Vec<String> = row
                            .iter()
                            .map(|c| c.markdown().replace('|', "\\|"))
                            .collect();
                        out.push_str(&format!("| {} |\n", cells.join(" | ")));
                    }
                    out.push('\n');
                }
                Block::Text(l) => out.push_str(&format!("{}\n\n", l.markdown())),
            }
        }
        out
    }

    /// As an HTML fragment: no document wrapper, no style, script, links or anything that
    /// loads; only elements and the classes `fields` (a run of fields), `n` (a right-aligned
    /// table cell), `bad`, `good`, `warn` and `dim` (tones). Every piece is escaped
    /// ([`escape::html`]) and every agent piece is a `<code>` element.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        let mut in_fields = false;
        for b in &self.0 {
            let field = matches!(b, Block::Field(..));
            if in_fields && !field {
                out.push_str("</dl>\n");
            } else if !in_fields && field {
                out.push_str("<dl class=\"fields\">\n");
            }
            in_fields = field;
            match b {
                Block::Title(l) => out.push_str(&format!("<h1>{}</h1>\n", l.html())),
                Block::Heading(h) => out.push_str(&format!("<h2>{}</h2>\n", escape::html(h))),
                Block::Subheading(l) => out.push_str(&format!("<h3>{}</h3>\n", l.html())),
                Block::Field(label, lines) => {
                    let value: Vec<String> = lines.iter().map(Line::html).collect();
                    out.push_str(&format!(
                        "<dt>{}</dt><dd>{}</dd>\n",
                        escape::html(label),
                        value.join("<br>")
                    ));
                }
                Block::Table { head, right, rows } => {
                    let class = |k: usize| {
                        if right.get(k).copied().unwrap_or(false) {
                            " class=\"n\""
                        } else {
                            ""
                        }
                    };
                    out.push_str("<table>\n<thead><tr>");
                    for (k, h) in head.iter().enumerate() {
                        out.push_str(&format!("<th{}>{}</th>", class(k), escape::html(h)));
                    }
                    out.push_str("</tr></thead>\n<tbody>\n");
                    for row in rows {
                        out.push_str("<tr>");
                        for (k, cell) in row.iter().enumerate() {
                            out.push_str(&format!("<td{}>{}</td>", class(k), cell.html()));
                        }
                        out.push_str("</tr>\n");
                    }
                    out.push_str("</tbody>\n</table>\n");
                }
                Block::Text(l) => out.push_str(&format!("<p>{}</p>\n", l.html())),
            }
        }
        if in_fields {
            out.push_str("</dl>\n");
        }
        out
    }
}

fn table_text(
    out: &mut String,
    pad: &str,
    head: &[&'static str],
    right: &[bool],
    rows: &[Row],
    color: bool,
) {
    let cells: Vec<Vec<(String, usize)>> = rows
        .iter()
        .map(|r| r.iter().map(|c| c.text(color)).collect())
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (k, (_, w)) in row.iter().enumerate() {
            if let Some(max) = widths.get_mut(k) {
                *max = (*max).max(*w);
            }
        }
    }
    let line = |out: &mut String, row: Vec<(String, usize)>| {
        let n = row.len();
        let mut text = String::from(pad);
        for (k, (cell, w)) in row.into_iter().enumerate() {
            let fill = " ".repeat(widths.get(k).copied().unwrap_or(w).saturating_sub(w));
            let last = k + 1 == n;
            if right.get(k).copied().unwrap_or(false) {
                text.push_str(&fill);
                text.push_str(&cell);
            } else {
                text.push_str(&cell);
                if !last {
                    text.push_str(&fill);
                }
            }
            if !last {
                text.push_str("  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    let header = head
        .iter()
        .map(|h| (Line::new().ours(*h).tone(Tone::Dim).text(color).0, h.len()))
        .collect();
    line(out, header);
    for row in cells {
        line(out, row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Doc {
        let evil = "\u{1b}[2J# pwned [x](http://e.example)\n<b>|";
        Doc(vec![
            Block::Title(Line::new().ours("Session ").agent(evil)),
            Block::Heading("Scope"),
            Block::Field("short", vec![Line::new().agent("a")]),
            Block::Field(
                "much longer",
                vec![Line::new().ours("b"), Line::new().ours("c")],
            ),
            Block::Table {
                head: vec!["WHAT", "N"],
                right: vec![false, true],
                rows: vec![
                    vec![Line::new().agent(evil), Line::new().ours("7")],
                    vec![Line::new().value(&json!({"k": 1})), Line::new().ours("12")],
                ],
            },
        ])
    }

    #[test]
    fn text_aligns_fields_and_columns_and_escapes_agent_text() {
        let text = doc().to_text(false);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains("Session \\x1b[2J# pwned [x](http://e.example)\\n<b>|\n"),
            "{text}"
        );
        assert!(
            text.contains("\n  short        a\n  much longer  b\n               c\n"),
            "{text}"
        );
        assert!(text.contains("\n  WHAT "), "{text}");
        assert!(text.contains("{\"k\":1}"), "{text}");
        assert!(text.ends_with("  12\n"), "numbers align right: {text}");
    }

    #[test]
    fn colour_wraps_our_tones_but_never_agent_escapes() {
        let text = doc().to_text(true);
        assert!(text.contains("\x1b[1m"), "{text}");
        assert!(!text.contains("\x1b[2J"), "{text}");
    }

    #[test]
    fn markdown_puts_agent_text_in_code_spans_and_escapes_pipes_in_tables() {
        let md = doc().to_markdown();
        assert!(md.starts_with("# Session `\\x1b[2J# pwned"), "{md}");
        assert!(!md.contains("\n# pwned"), "{md}");
        assert!(md.contains("## Scope\n"), "{md}");
        assert!(md.contains("- **much longer:**\n  - b\n  - c\n"), "{md}");
        assert!(md.contains("\\n<b>\\|` | 7 |"), "{md}");
        assert!(md.contains("| --- | --: |"), "{md}");
    }

    #[test]
    fn html_escapes_agent_text_and_loads_nothing() {
        let html = doc().to_html();
        assert!(!html.contains('\u{1b}'), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(
            html.starts_with(
                "<h1>Session <code>\\x1b[2J# pwned [x](http://e.example)\\n&lt;b&gt;|</code></h1>\n"
            ),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;"), "{html}");
        assert!(html.contains("<h2>Scope</h2>\n"), "{html}");
        assert!(html.contains("<code>{&quot;k&quot;:1}</code>"), "{html}");
        let lower = html.to_lowercase();
        for bad in [
            "<script", "style=", "<style", "href", "src", "<a ", "<img", "<link", "<iframe",
            "<html", "<head", "<body",
        ] {
            assert!(!lower.contains(bad), "{bad} in {html}");
        }
        // The only attributes are classes (no event handlers, no styles).
        assert_eq!(
            html.matches("=\"").count(),
            html.matches(" class=\"").count(),
            "{html}"
        );
    }

    #[test]
    fn html_groups_fields_and_shapes_tables() {
        let html = doc().to_html();
        assert_eq!(html.matches("<dl").count(), 1, "{html}");
        assert!(
            html.contains(
                "<dl class=\"fields\">\n\
                 <dt>short</dt><dd><code>a</code></dd>\n\
                 <dt>much longer</dt><dd>b<br>c</dd>\n\
                 </dl>\n"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<table>\n<thead><tr><th>WHAT</th><th class=\"n\">N</th></tr></thead>\n<tbody>\n"
            ),
            "{html}"
        );
        assert!(
            html.ends_with(
                "<tr><td><code>{&quot;k&quot;:1}</code></td><td class=\"n\">12</td></tr>\n\
                 </tbody>\n</table>\n"
            ),
            "{html}"
        );
        assert_eq!(html.matches("<tr>").count(), 3, "{html}");
        assert_eq!(html.matches("<td class=\"n\">").count(), 2, "{html}");
        assert_eq!(html.matches("<td>").count(), 2, "{html}");
    }

    #[test]
    fn html_tones_gaps_and_text() {
        let d = Doc(vec![
            Block::Subheading(Line::new().ours("D1").tone(Tone::Strong)),
            Block::Text(
                Line::new()
                    .ours("denied")
                    .tone(Tone::Bad)
                    .gap(3)
                    .ours("ok")
                    .tone(Tone::Good)
                    .ours(" late")
                    .tone(Tone::Warn)
                    .ours(" at 12:00")
                    .tone(Tone::Dim)
                    .ours(" a<b"),
            ),
            Block::Field("only", vec![]),
        ]);
        let html = d.to_html();
        assert_eq!(
            html,
            "<h3><strong>D1</strong></h3>\n\
             <p><strong class=\"bad\">denied</strong> — <span class=\"good\">ok</span>\
             <span class=\"warn\"> late</span><span class=\"dim\"> at 12:00</span> a&lt;b</p>\n\
             <dl class=\"fields\">\n<dt>only</dt><dd></dd>\n</dl>\n"
        );
    }

    #[test]
    fn html_is_deterministic() {
        assert_eq!(doc().to_html(), doc().to_html());
        assert_eq!(
            doc().to_html().as_bytes(),
            doc().clone().to_html().as_bytes()
        );
    }
}
