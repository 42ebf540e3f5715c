//! Text an agent wrote, made safe to print. Every string read from an event (ids, resources,
//! request text, reasons, JSON values) is untrusted: it may hold escape sequences that would
//! recolour, move or clear the reader's terminal, carriage returns or line separators that
//! overwrite what was printed before, bidi overrides that show text in another order than it is
//! stored, or Markdown and HTML that would become headings, links, markup or script. Nothing from
//! an event reaches a terminal, a Markdown document or an HTML page except through this module.

use serde_json::Value;
use std::borrow::Cow;
use std::fmt::Write as _;

use agentrail_core::text::is_unsafe;

/// The string with every unsafe character and every backslash escaped, so what is printed
/// reads back unambiguously: `\\`, `\n`, `\r`, `\t`, `\xHH` for other ASCII controls (`\x1b` for
/// ESC), `\uHHHH` for the others (`\u202e`), `\u{HHHHH}` beyond the BMP.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c == '\\' || is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if !is_unsafe(c) => out.push(c),
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// How many columns the escaped string takes (one a character).
pub fn width(s: &str) -> usize {
    escape(s).chars().count()
}

/// The string as a Markdown code span: escaped as [`escape`] does, then fenced with more
/// backticks than it holds in a row, so that nothing in it is read as Markdown or HTML
/// (headings, emphasis, links, autolinks, entities, tags). A pipe inside a table cell still
/// needs `\|`, which GFM honours inside code spans.
pub fn markdown(s: &str) -> String {
    let text = escape(s);
    if text.is_empty() {
        return "` `".into();
    }
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with(['`', ' ']) || text.ends_with(['`', ' ']) {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The string as HTML text, for an element's content or a quoted attribute value: escaped as
/// [`escape`] does (so controls, bidi overrides and invisible characters are shown, not
/// obeyed), then `&`, `<`, `>`, `"` and `'` as character references, so nothing in it can open a
/// tag, close an attribute or start an entity.
pub fn html(s: &str) -> String {
    let text = escape(s);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as JSON text (compact, or indented with `pretty`) in which every unsafe
/// character inside a string is a `\u` escape: still valid JSON, the same value, and inert on
/// a terminal. (serde_json escapes C0 controls in strings itself, so the only raw ones left are
/// the indentation's newlines.)
pub fn json(v: &Value, pretty: bool) -> String {
    let unsafe_in_string = |c: char| is_unsafe(c) && c != '\n';
    let text = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .unwrap_or_default();
    if !text.chars().any(unsafe_in_string) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_in_string(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{u:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A value an agent gave (an option, an input, an output): a string as itself, anything else
/// as compact JSON. Not yet escaped.
pub fn value_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(serde_json::to_string(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_text_is_unchanged_and_borrowed() {
        let s = "contract ends in 90 days, outside the 60-day window (über, 日本, 🙂)";
        assert!(matches!(escape(s), Cow::Borrowed(_)));
        assert_eq!(escape(s), s);
    }

    #[test]
    fn controls_are_escaped_never_emitted() {
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("line1\nline2\r\t"), "line1\\nline2\\r\\t");
        assert_eq!(escape("\0\u{7}\u{7f}"), "\\x00\\x07\\x7f");
        // C1 controls: U+009B is a one-character CSI on some terminals.
        assert_eq!(escape("\u{9b}31m\u{85}"), "\\u009b31m\\u0085");
        // A backslash is escaped too, so `\x1b` written as text is not mistaken for an ESC.
        assert_eq!(escape("\\x1b"), "\\\\x1b");
    }

    #[test]
    fn bidi_and_invisible_characters_are_escaped() {
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}'] {
            assert_eq!(escape(&c.to_string()), format!("\\u{:04x}", c as u32));
        }
        for c in [
            '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200f}', '\u{2028}', '\u{ad}',
            '\u{34f}', '\u{115f}', '\u{1160}', '\u{3164}', '\u{ffa0}',
        ] {
            assert_eq!(escape(&c.to_string()), format!("\\u{:04x}", c as u32));
        }
        assert_eq!(escape("\u{feff}x"), "\\ufeffx");
        assert_eq!(escape("\u{e0041}"), "\\u{e0041}");
    }

    #[test]
    fn no_escaped_output_holds_an_unsafe_character() {
        let all: String = (0u32..0x3000)
            .chain(0xe0000..0xe0080)
            .filter_map(char::from_u32)
            .collect();
        let out = escape(&all);
        assert!(!out.chars().any(is_unsafe), "{out}");
        assert!(!markdown(&all).chars().any(is_unsafe));
        assert!(!json(&json!({ "k": all }), false).chars().any(is_unsafe));
        assert_eq!(width("a\u{1b}"), 5);
    }

    #[test]
    fn markdown_is_a_code_span_that_holds_any_text() {
        assert_eq!(markdown("# Heading"), "`# Heading`");
        assert_eq!(
            markdown("[x](https://evil.example) <img src=x>"),
            "`[x](https://evil.example) <img src=x>`"
        );
        assert_eq!(markdown("a `b` c"), "``a `b` c``");
        assert_eq!(markdown("``x"), "``` ``x ```");
        assert_eq!(markdown(" x"), "`  x `");
        assert_eq!(markdown(""), "` `");
        assert_eq!(markdown("a\n# b"), "`a\\n# b`");
    }

    #[test]
    fn html_escapes_markup_and_shows_controls() {
        assert_eq!(html("plain über"), "plain über");
        assert_eq!(
            html(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(
            html("\"><img src=x onerror=alert(1)>"),
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        );
        assert_eq!(html("a\u{202e}b\u{1b}[31m"), "a\\u202eb\\x1b[31m");
        // An entity written as text stays text.
        assert_eq!(html("&lt;"), "&amp;lt;");
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = html(&all);
        assert!(!out.chars().any(|c| is_unsafe(c) || "<>\"'".contains(c)));
    }

    #[test]
    fn json_stays_valid_and_means_the_same() {
        let v = json!({"a": "\u{1b}[31m\u{202e}\u{85}\u{7f}\u{e0041}", "b": [1, "\\"]});
        let text = json(&v, false);
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{202e}'),
            "{text}"
        );
        assert!(
            text.contains("\\u202e") && text.contains("\\udb40\\udc41"),
            "{text}"
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
        let pretty = json(&v, true);
        assert!(pretty.starts_with("{\n  \"a\": "), "{pretty}");
        assert_eq!(serde_json::from_str::<Value>(&pretty).unwrap(), v);
    }

    #[test]
    fn values_are_strings_or_compact_json() {
        assert_eq!(value_text(&json!("x y")), "x y");
        assert_eq!(value_text(&json!(42)), "42");
        assert_eq!(value_text(&json!({"k": [1]})), r#"{"k":[1]}"#);
    }
}
