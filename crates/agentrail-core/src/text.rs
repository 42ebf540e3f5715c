//! Characters that must never be shown as themselves. Text agentrail did not write (event
//! values, inventory entries) may hold characters that change how everything after them is
//! shown: controls that move or recolour a terminal, bidi overrides that reorder what is read,
//! invisible characters that make two different ids look alike. The CLI and the reports escape
//! them; the inventory refuses them in ids.

/// True for a character that must never be printed as itself: C0 controls and DEL, C1 controls
/// (U+0080–U+009F), invisible characters (the soft hyphen, the combining grapheme joiner, the
/// Hangul fillers), invisible format characters (zero-width spaces and joiners, directional
/// marks, bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, the line and
/// paragraph separators, the byte order mark, interlinear annotations) and the invisible tag
/// characters (U+E0000–U+E007F).
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{ad}'
        | '\u{34f}'
        | '\u{115f}'..='\u{1160}'
        | '\u{3164}'
        | '\u{ffa0}'
        | '\u{61c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}
