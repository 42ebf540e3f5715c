//! Strict JSON in, RFC 8785 canonical JSON out: the one place agentrail turns untrusted JSON bytes
//! into values and values into the bytes that get hashed.
//!
//! It owns [`parse_strict`] (an I-JSON, RFC 7493, reader), [`check_value`] (the same limits on
//! values built in code) and [`canonicalize`] / [`write_canonical`] (the JSON Canonicalization
//! Scheme, RFC 8785).
//!
//! It must never accept a document that two readers could understand differently (duplicate keys,
//! unpaired surrogates, integers a double cannot hold exactly, non-finite numbers), never let a
//! map's iteration order reach canonical bytes (members are sorted here, by UTF-16 code units), and
//! never do I/O.
//!
//! The parser is written by hand rather than layered on `serde_json`'s deserializer for two
//! reasons: serde_json without its `float_roundtrip` feature parses decimals on a best-effort basis,
//! while canonical bytes must come from the correctly rounded double (`str::parse::<f64>`); and
//! serde_json keeps the last of two duplicate keys silently. A differential property test below
//! holds it to serde_json's grammar and value representation.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt::Write as _;

/// Why a JSON document or value was rejected.
///
/// Every variant but `Syntax` names where in the document the problem is: a JSON-pointer-like path
/// for messages, e.g. `attributes.foo[2].bar` (object keys joined with `.`, array indices as
/// `[i]`; the root is the empty string). Keys are written as they are, so a key containing `.` or
/// `[` reads ambiguously.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// Not JSON at all (syntax), with serde_json's line/column message.
    #[error("invalid JSON: {0}")]
    Syntax(String),
    /// An object names the same member twice.
    #[error("duplicate key {key:?} in object at '{path}'")]
    DuplicateKey {
        /// The object holding the duplicate.
        path: String,
        /// The repeated member name.
        key: String,
    },
    /// An integral number outside ±(2^53−1), which a double cannot hold exactly.
    #[error("number at '{path}' is an integer outside ±(2^53−1); send it as a string")]
    IntegerOutOfRange {
        /// The number.
        path: String,
    },
    /// A number that overflows a double (e.g. `1e400`), or a NaN or infinity built in code.
    #[error("number at '{path}' is not finite")]
    NonFinite {
        /// The number.
        path: String,
    },
    /// A `\uXXXX` escape of a UTF-16 surrogate that is not half of a pair.
    #[error("string at '{path}' contains an unpaired UTF-16 surrogate")]
    LoneSurrogate {
        /// The string; for a member name, the object's path followed by the name with the
        /// surrogate replaced by U+FFFD.
        path: String,
    },
    /// Arrays and objects nested more than `max` deep.
    #[error("nesting deeper than {max} levels at '{path}'")]
    TooDeep {
        /// The first array or object past the limit.
        path: String,
        /// The limit, [`MAX_DEPTH`].
        max: usize,
    },
}

impl JsonError {
    /// The path of the offending item, `None` for [`JsonError::Syntax`].
    pub fn path(&self) -> Option<&str> {
        match self {
            JsonError::Syntax(_) => None,
            JsonError::DuplicateKey { path, .. }
            | JsonError::IntegerOutOfRange { path }
            | JsonError::NonFinite { path }
            | JsonError::LoneSurrogate { path }
            | JsonError::TooDeep { path, .. } => Some(path),
        }
    }
}

/// The deepest nesting of arrays and objects accepted: a top-level array or object is level 1.
pub const MAX_DEPTH: usize = 64;

/// 2^53 − 1, the largest integer magnitude every double holds exactly. Every finite double above it
/// is itself an integer (the spacing of doubles there is at least 2), so a magnitude test suffices.
const MAX_SAFE_INTEGER_U64: u64 = (1 << 53) - 1;
const MAX_SAFE_INTEGER: f64 = MAX_SAFE_INTEGER_U64 as f64;

/// Parses one JSON document strictly and returns it as a [`Value`].
///
/// Rejects, beyond RFC 8259 syntax (which includes trailing non-whitespace and invalid UTF-8):
/// duplicate object keys at any depth, numbers whose value is an integer of magnitude above
/// 2^53−1 (`123456789012345678`, `1e20`, `18446744073709551616` alike), numbers that overflow a
/// double (`1e400`), unpaired UTF-16 surrogate escapes in strings or keys, and nesting deeper
/// than [`MAX_DEPTH`]. Numbers that underflow (`1e-400`) read as 0, as in JavaScript.
///
/// Numbers are represented as serde_json would: an integer literal as `u64` (non-negative) or
/// `i64` (negative), anything with a fraction or exponent, and `-0`, as `f64`; decimals are
/// rounded correctly.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let src = match std::str::from_utf8(bytes) {
        Ok(src) => src,
        Err(e) => return Err(syntax_error(bytes, e.valid_up_to(), "invalid UTF-8")),
    };
    let mut parser = Parser { src, pos: 0 };
    parser
        .document()
        .map_err(|failure| failure.into_error(bytes))
}

/// Checks a [`Value`] that did not come through [`parse_strict`] (e.g. one built in code) against
/// the same number and depth limits. Duplicate keys and surrogates cannot occur in a `Value`.
pub fn check_value(v: &Value) -> Result<(), JsonError> {
    check(v, 0).map_err(|failure| failure.into_error(&[]))
}

/// Puts every object's members in key (byte) order, recursively. serde_json's map keeps keys
/// sorted unless a crate in the build turns on its `preserve_order` feature (cedar-policy does),
/// and then keeps insertion order; text that agentrail writes with serde_json (not canonical
/// form) goes through this first so that its bytes never depend on what else is linked in.
pub fn sort_keys(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        Value::Object(members) => {
            let mut sorted: Vec<(String, Value)> = std::mem::take(members).into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut member) in sorted {
                sort_keys(&mut member);
                members.insert(k, member);
            }
        }
        _ => {}
    }
}

/// The RFC 8785 (JCS) canonical form of `v`.
///
/// Errors, with the path, as [`check_value`] would: on numbers out of range or not finite, and on
/// nesting deeper than [`MAX_DEPTH`].
pub fn canonicalize(v: &Value) -> Result<Vec<u8>, JsonError> {
    let mut out = Vec::new();
    write_canonical(v, &mut out)?;
    Ok(out)
}

/// Appends the RFC 8785 (JCS) canonical form of `v` to `out`. On error `out` is left as it was.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), JsonError> {
    let start = out.len();
    write_value(v, 0, out).map_err(|failure| {
        out.truncate(start);
        failure.into_error(&[])
    })
}

/// The RFC 8785 form of an object with these members, given in any order (no map is built: the
/// caller may assemble members from several places). Duplicate names are the caller's bug.
pub fn canonicalize_members(members: Vec<(&str, &Value)>) -> Result<Vec<u8>, JsonError> {
    debug_assert!(
        {
            let mut names: Vec<&str> = members.iter().map(|m| m.0).collect();
            names.sort_unstable();
            names.windows(2).all(|w| w[0] != w[1])
        },
        "duplicate member names"
    );
    let mut out = Vec::new();
    write_members(members, 0, &mut out).map_err(|failure| failure.into_error(&[]))?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Failures carry their path innermost-first while they unwind, so the path is built (and keys
// are copied) only when something is wrong.

enum Seg {
    Key(String),
    Index(usize),
}

enum Kind {
    Syntax { at: usize, what: &'static str },
    DuplicateKey(String),
    IntegerOutOfRange,
    NonFinite,
    LoneSurrogate,
    TooDeep,
}

struct Failure {
    kind: Kind,
    segs: Vec<Seg>,
}

impl From<Kind> for Failure {
    fn from(kind: Kind) -> Failure {
        Failure {
            kind,
            segs: Vec::new(),
        }
    }
}

impl Failure {
    fn within(mut self, seg: Seg) -> Failure {
        self.segs.push(seg);
        self
    }

    /// `input` is the parsed document, for syntax messages; values have no syntax errors.
    fn into_error(self, input: &[u8]) -> JsonError {
        let mut path = String::new();
        for seg in self.segs.iter().rev() {
            match seg {
                Seg::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Seg::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
            }
        }
        match self.kind {
            Kind::Syntax { at, what } => syntax_error(input, at, what),
            Kind::DuplicateKey(key) => JsonError::DuplicateKey { path, key },
            Kind::IntegerOutOfRange => JsonError::IntegerOutOfRange { path },
            Kind::NonFinite => JsonError::NonFinite { path },
            Kind::LoneSurrogate => JsonError::LoneSurrogate { path },
            Kind::TooDeep => JsonError::TooDeep {
                path,
                max: MAX_DEPTH,
            },
        }
    }
}

/// serde_json's message for the document when it also rejects it (it does for every syntax error
/// found here, as everything before the error passed stricter checks); otherwise our own.
fn syntax_error(input: &[u8], at: usize, what: &str) -> JsonError {
    if let Err(e) = serde_json::from_slice::<Value>(input) {
        return JsonError::Syntax(e.to_string());
    }
    let before = &input[..at.min(input.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = 1 + before.iter().rev().take_while(|&&b| b != b'\n').count();
    JsonError::Syntax(format!("{what} at line {line} column {column}"))
}

// ---------------------------------------------------------------------------------------------
// Parsing. `depth` counts the arrays and objects around the value being read.

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Value, Failure> {
        self.skip_ws();
        let v = self.value(0)?;
        self.skip_ws();
        if self.pos != self.src.len() {
            return Err(self.syntax("trailing characters"));
        }
        Ok(v)
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn syntax(&self, what: &'static str) -> Failure {
        Kind::Syntax { at: self.pos, what }.into()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `b` after optional whitespace.
    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), Failure> {
        self.skip_ws();
        if self.peek() != Some(b) {
            return Err(self.syntax(what));
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, Failure> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => match self.string()? {
                (s, false) => Ok(Value::String(s)),
                (_, true) => Err(Kind::LoneSurrogate.into()),
            },
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.syntax("expected a value")),
        }
    }

    fn literal(&mut self, word: &str, v: Value) -> Result<Value, Failure> {
        if !self.src[self.pos..].starts_with(word) {
            return Err(self.syntax("expected a value"));
        }
        self.pos += word.len();
        Ok(v)
    }

    fn array(&mut self, depth: usize) -> Result<Value, Failure> {
        if depth > MAX_DEPTH {
            return Err(Kind::TooDeep.into());
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            let item = self
                .value(depth)
                .map_err(|f| f.within(Seg::Index(items.len())))?;
            items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.syntax("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, Failure> {
        if depth > MAX_DEPTH {
            return Err(Kind::TooDeep.into());
        }
        self.pos += 1; // '{'
        let mut members = Map::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expected a string key"));
            }
            let key = match self.string()? {
                (key, false) => key,
                (lossy, true) => {
                    return Err(Failure::from(Kind::LoneSurrogate).within(Seg::Key(lossy)))
                }
            };
            if members.contains_key(&key) {
                return Err(Kind::DuplicateKey(key).into());
            }
            self.expect(b':', "expected `:`")?;
            self.skip_ws();
            let v = match self.value(depth) {
                Ok(v) => v,
                Err(f) => return Err(f.within(Seg::Key(key))),
            };
            members.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.syntax("expected `,` or `}`")),
            }
        }
    }

    /// Reads a string starting at its opening quote. Returns it with every unpaired surrogate
    /// replaced by U+FFFD, and whether there was one (the caller rejects it, naming the path).
    fn string(&mut self) -> Result<(String, bool), Failure> {
        let bytes = self.src.as_bytes();
        self.pos += 1; // '"'
        let mut out = String::new();
        let mut lone = false;
        let mut run = self.pos;
        loop {
            match bytes.get(self.pos) {
                None => return Err(self.syntax("unterminated string")),
                Some(b'"') => {
                    out.push_str(&self.src[run..self.pos]);
                    self.pos += 1;
                    return Ok((out, lone));
                }
                Some(b'\\') => {
                    out.push_str(&self.src[run..self.pos]);
                    self.pos += 1;
                    self.escape(&mut out, &mut lone)?;
                    run = self.pos;
                }
                Some(0x00..=0x1f) => return Err(self.syntax("control character in string")),
                Some(_) => {
                    // Skip the whole run of plain bytes at once (the common case).
                    let rest = &bytes[self.pos..];
                    self.pos += rest
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                        .unwrap_or(rest.len());
                }
            }
        }
    }

    /// Reads one escape after its backslash.
    fn escape(&mut self, out: &mut String, lone: &mut bool) -> Result<(), Failure> {
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                let unit = self.hex4()?;
                let c = match unit {
                    0xD800..=0xDBFF if self.src[self.pos..].starts_with("\\u") => {
                        let after_high = self.pos;
                        self.pos += 2;
                        let low = self.hex4()?;
                        if (0xDC00..=0xDFFF).contains(&low) {
                            let scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                            char::from_u32(scalar)
                        } else {
                            // Not a pair: re-read the second escape on its own.
                            self.pos = after_high;
                            None
                        }
                    }
                    _ => char::from_u32(unit), // None exactly for surrogates
                };
                out.push(c.unwrap_or_else(|| {
                    *lone = true;
                    char::REPLACEMENT_CHARACTER
                }));
                return Ok(());
            }
            _ => return Err(self.syntax("invalid escape")),
        };
        out.push(c);
        self.pos += 1;
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Failure> {
        let mut unit = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.syntax("invalid \\u escape"))?;
            unit = unit * 16 + digit;
            self.pos += 1;
        }
        Ok(unit)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, read as the correctly rounded double.
    fn number(&mut self) -> Result<Value, Failure> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            self.required_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        // The grammar above is a subset of what `f64::from_str` accepts, and it rounds correctly.
        let Ok(f) = self.src[start..self.pos].parse::<f64>() else {
            return Err(self.syntax("invalid number"));
        };
        check_f64(f)?;
        // As serde_json represents them; exact, since |f| <= 2^53 - 1 here.
        let n = match (integer, negative) {
            (true, false) => Number::from(f as u64),
            (true, true) if f != 0.0 => Number::from(f as i64),
            _ => Number::from_f64(f).ok_or(Kind::NonFinite)?,
        };
        Ok(Value::Number(n))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn required_digits(&mut self) -> Result<(), Failure> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.syntax("invalid number"));
        }
        self.digits();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Limits shared by the parser, check_value and the writer.

fn check_f64(f: f64) -> Result<(), Kind> {
    if !f.is_finite() {
        Err(Kind::NonFinite)
    } else if f.abs() > MAX_SAFE_INTEGER {
        Err(Kind::IntegerOutOfRange)
    } else {
        Ok(())
    }
}

/// The number as a double, if within the limits.
fn number_f64(n: &Number) -> Result<f64, Kind> {
    let f = if let Some(u) = n.as_u64() {
        if u > MAX_SAFE_INTEGER_U64 {
            return Err(Kind::IntegerOutOfRange);
        }
        u as f64
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE_INTEGER_U64 {
            return Err(Kind::IntegerOutOfRange);
        }
        i as f64
    } else {
        n.as_f64().ok_or(Kind::NonFinite)?
    };
    check_f64(f)?;
    Ok(f)
}

fn check(v: &Value, depth: usize) -> Result<(), Failure> {
    match v {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) => number_f64(n).map(|_| ()).map_err(Failure::from),
        Value::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(Kind::TooDeep.into());
            }
            for (i, item) in items.iter().enumerate() {
                check(item, depth + 1).map_err(|f| f.within(Seg::Index(i)))?;
            }
            Ok(())
        }
        Value::Object(members) => {
            if depth + 1 > MAX_DEPTH {
                return Err(Kind::TooDeep.into());
            }
            for (key, member) in members {
                check(member, depth + 1).map_err(|f| f.within(Seg::Key(key.clone())))?;
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 8785 writing.

fn write_value(v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), Failure> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(number_f64(n)?, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if depth + 1 > MAX_DEPTH {
                return Err(Kind::TooDeep.into());
            }
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, depth + 1, out).map_err(|f| f.within(Seg::Index(i)))?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            if depth + 1 > MAX_DEPTH {
                return Err(Kind::TooDeep.into());
            }
            write_members(
                members.iter().map(|(k, v)| (k.as_str(), v)).collect(),
                depth,
                out,
            )?;
        }
    }
    Ok(())
}

/// Writes an object of these members (in any order) at nesting `depth`.
fn write_members(
    mut members: Vec<(&str, &Value)>,
    depth: usize,
    out: &mut Vec<u8>,
) -> Result<(), Failure> {
    // INVARIANT: member order comes from this sort alone, never from the map's own order
    // (a BTreeMap in UTF-8 order, or insertion order under serde_json's preserve_order).
    members.sort_by(|a, b| cmp_utf16(a.0, b.0));
    out.push(b'{');
    for (i, (key, member)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        write_value(member, depth + 1, out).map_err(|f| f.within(Seg::Key(key.to_string())))?;
    }
    out.push(b'}');
    Ok(())
}

/// RFC 8785 section 3.2.3: member names compare as arrays of UTF-16 code units. This differs from
/// UTF-8 (and `str`) order where a character above U+FFFF meets one in U+E000..=U+FFFF.
///
/// Fast path: at the first differing byte, if both bytes are below 0xEE, byte order is UTF-16
/// order. (Either both bytes lead characters below U+E000, where code point and UTF-16 order
/// agree, or they are continuation bytes of two characters in the same range, where the order is
/// monotonic too.) Only a character at or above U+E000 needs the UTF-16 comparison.
fn cmp_utf16(a: &str, b: &str) -> Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    match x.iter().zip(y).position(|(p, q)| p != q) {
        None => x.len().cmp(&y.len()),
        Some(i) if x[i] < 0xEE && y[i] < 0xEE => x[i].cmp(&y[i]),
        Some(_) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

/// ECMAScript `Number.prototype.toString`, as RFC 8785 section 3.2.2.3 requires (so -0 is `0`).
/// `f` is finite.
fn write_number(f: f64, out: &mut Vec<u8>) {
    debug_assert!(f.is_finite());
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
}

/// RFC 8785 section 3.2.2.2: the two-character escapes where JSON has them, `\u00xx` (lowercase)
/// for the other controls, and every other character as itself in UTF-8.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut run = 0;
    // Copy each run of bytes that need no escape in one go.
    while let Some(i) = bytes[run..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|p| run + p)
    {
        out.extend_from_slice(&bytes[run..i]);
        let b = bytes[i];
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"",
        };
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        run = i + 1;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses strictly, canonicalizes, and compares with the expected canonical text.
    fn check(input: &str, expected: &str) {
        let v = parse_strict(input.as_bytes()).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let out = canonicalize(&v).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected, "input {input:?}");
    }

    fn check_rejected(input: &str, expected: JsonError) {
        assert_eq!(
            parse_strict(input.as_bytes()),
            Err(expected),
            "input {input:?}"
        );
    }

    fn path(p: &str) -> String {
        p.to_owned()
    }

    fn canonical_text(v: &Value) -> String {
        String::from_utf8(canonicalize(v).unwrap()).unwrap()
    }

    // RFC 8785 section 3.2.2, re-typed. Its `1E30` is an integer beyond 2^53 - 1, which
    // agentrail rejects; the sample is checked without it, and `1e+30` through the number writer.
    const RFC_3_2_2_INPUT: &str = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;
    const RFC_3_2_2_OUTPUT: &str = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;

    #[test]
    fn rfc8785_sample_without_its_out_of_range_integer() {
        check(
            &RFC_3_2_2_INPUT.replace("1E30, ", ""),
            &RFC_3_2_2_OUTPUT.replace("1e+30,", ""),
        );
        let mut out = Vec::new();
        write_number(1e30, &mut out);
        assert_eq!(out, b"1e+30");
    }

    #[test]
    fn rfc8785_sample_as_published_is_rejected_at_the_big_integer() {
        let expected = JsonError::IntegerOutOfRange {
            path: path("numbers[1]"),
        };
        check_rejected(RFC_3_2_2_INPUT, expected.clone());
        let lenient: Value = serde_json::from_str(RFC_3_2_2_INPUT).unwrap();
        assert_eq!(canonicalize(&lenient), Err(expected.clone()));
        assert_eq!(check_value(&lenient), Err(expected));
    }

    #[test]
    fn rfc8785_sorting_by_utf16_code_units() {
        // RFC 8785 section 3.2.3, re-typed.
        let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                        \"\u{1f600}\":\"Emoji: Grinning Face\",\
                        \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        check(input, expected);
        // UTF-8 order would put U+FB33 before U+1F600, so this test tells the two apart.
        let utf8_order = serde_json::to_string(&parse_strict(input.as_bytes()).unwrap()).unwrap();
        assert!(utf8_order.find('\u{fb33}') < utf8_order.find('\u{1f600}'));
    }

    #[test]
    fn cyberphone_weird_vector() {
        // cyberphone/json-canonicalization testdata/{input,output}/weird.json, re-typed.
        let input = r#"{
  "\u20ac": "Euro Sign",
  "1": "One",
  "\u0080": "Control\u007f",
  "\ud83d\ude02": "Smiley",
  "\u00f6": "Latin Small Letter O With Diaeresis",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "</script>": "Browser Challenge"
}"#;
        let expected = "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7f}\",\
                        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                        \"\u{1f602}\":\"Smiley\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
        check(input, expected);
    }

    /// RFC 8785 Appendix B, the finite rows, re-typed: IEEE 754 bits, ECMAScript text, and
    /// whether agentrail accepts the number (no integer beyond 2^53 - 1).
    const APPENDIX_B: &[(u64, &str, bool)] = &[
        (0x0000000000000000, "0", true),
        (0x8000000000000000, "0", true),
        (0x0000000000000001, "5e-324", true),
        (0x8000000000000001, "-5e-324", true),
        (0x7fefffffffffffff, "1.7976931348623157e+308", false),
        (0xffefffffffffffff, "-1.7976931348623157e+308", false),
        (0x4340000000000000, "9007199254740992", false),
        (0xc340000000000000, "-9007199254740992", false),
        (0x4430000000000000, "295147905179352830000", false),
        (0x44b52d02c7e14af5, "9.999999999999997e+22", false),
        (0x44b52d02c7e14af6, "1e+23", false),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23", false),
        (0x444b1ae4d6e2ef4e, "999999999999999700000", false),
        (0x444b1ae4d6e2ef4f, "999999999999999900000", false),
        (0x444b1ae4d6e2ef50, "1e+21", false),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7", true),
        (0x3eb0c6f7a0b5ed8d, "0.000001", true),
        (0x41b3de4355555553, "333333333.3333332", true),
        (0x41b3de4355555554, "333333333.33333325", true),
        (0x41b3de4355555555, "333333333.3333333", true),
        (0x41b3de4355555556, "333333333.3333334", true),
        (0x41b3de4355555557, "333333333.33333343", true),
        (0xbecbf647612f3696, "-0.0000033333333333333333", true),
        (0x43143ff3c1cb0959, "1424953923781206.2", true),
    ];

    #[test]
    fn rfc8785_appendix_b_numbers() {
        for &(bits, text, accepted) in APPENDIX_B {
            let f = f64::from_bits(bits);
            let mut out = Vec::new();
            write_number(f, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), text, "{bits:#018x}");

            let v = Value::Number(Number::from_f64(f).unwrap());
            let parsed = parse_strict(text.as_bytes());
            if accepted {
                assert_eq!(canonical_text(&v), text, "{bits:#018x}");
                let back = parsed.unwrap().as_f64().unwrap();
                assert_eq!(back.to_bits() & !(1 << 63), bits & !(1 << 63), "{text}");
            } else {
                let expected = JsonError::IntegerOutOfRange { path: path("") };
                assert_eq!(canonicalize(&v), Err(expected.clone()), "{bits:#018x}");
                assert_eq!(parsed, Err(expected), "{text}");
            }
        }
    }

    #[test]
    fn integers_are_written_as_doubles_would_be() {
        let cases: &[(Value, &str)] = &[
            (Value::from(9_007_199_254_740_991_u64), "9007199254740991"),
            (Value::from(-9_007_199_254_740_991_i64), "-9007199254740991"),
            (Value::from(0_u64), "0"),
            (Value::from(-0.0_f64), "0"),
            (Value::from(1.0_f64), "1"),
            (Value::from(-7_i64), "-7"),
            (Value::from(1e-7_f64), "1e-7"),
        ];
        for (v, text) in cases {
            assert_eq!(canonical_text(v), *text, "{v:?}");
        }
        for v in [
            Value::from(u64::MAX),
            Value::from(i64::MIN),
            Value::from(9_007_199_254_740_992_u64),
            Value::from(-9_007_199_254_740_992_i64),
            Value::from(1e20_f64),
        ] {
            let expected = JsonError::IntegerOutOfRange { path: path("") };
            assert_eq!(canonicalize(&v), Err(expected.clone()), "{v:?}");
            assert_eq!(check_value(&v), Err(expected), "{v:?}");
        }
    }

    #[test]
    fn string_escapes() {
        let all_controls: String = (0_u8..0x20).map(char::from).collect();
        let expected = "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\
                        \\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\
                        \\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"";
        assert_eq!(canonical_text(&Value::String(all_controls)), expected);
        let raw = "\u{7f}\u{80}\u{2028}\u{2029}\u{fffd}\u{10ffff}é/<>&'";
        assert_eq!(canonical_text(&Value::from(raw)), format!("\"{raw}\""));
        assert_eq!(canonical_text(&Value::from("a\"b\\c")), r#""a\"b\\c""#);
        check(r#""\u00e9\u002F\uD834\uDD1E""#, "\"é/\u{1d11e}\"");
    }

    #[test]
    fn strict_parse_rejections_name_the_path() {
        let dup = |p: &str, key: &str| JsonError::DuplicateKey {
            path: path(p),
            key: key.to_owned(),
        };
        let range = |p: &str| JsonError::IntegerOutOfRange { path: path(p) };
        let non_finite = |p: &str| JsonError::NonFinite { path: path(p) };
        let lone = |p: &str| JsonError::LoneSurrogate { path: path(p) };
        let cases = [
            (r#"{"a":1,"a":2}"#, dup("", "a")),
            (r#"{"a":1,"b":2,"a":1}"#, dup("", "a")),
            (r#"{"a":{"b":1,"b":2}}"#, dup("a", "b")),
            (r#"{"x":[0,{"k":null,"k":null}]}"#, dup("x[1]", "k")),
            (r#"{"\u0061":1,"a":2}"#, dup("", "a")),
            ("9007199254740992", range("")),
            ("-9007199254740992", range("")),
            ("123456789012345678", range("")),
            (r#"{"n":1e20}"#, range("n")),
            ("[18446744073709551616]", range("[0]")),
            ("[-18446744073709551616]", range("[0]")),
            ("9007199254740991.5", range("")),
            ("1e400", non_finite("")),
            (r#"{"a":{"b":[1,-1e400]}}"#, non_finite("a.b[1]")),
            (r#""\ud800""#, lone("")),
            (r#""\udc00x""#, lone("")),
            (r#""\ud800\u0041""#, lone("")),
            (r#""\ude00\ud83d""#, lone("")),
            (r#"{"s":["ok","\uDBFF"]}"#, lone("s[1]")),
            (r#"{"o":{"k\ud800":1}}"#, lone("o.k\u{fffd}")),
            (r#"{"k\ud800\u0041":1}"#, lone("k\u{fffd}A")),
        ];
        for (input, expected) in cases {
            check_rejected(input, expected);
        }
    }

    #[test]
    fn nesting_limit() {
        let nested = |n: usize| "[".repeat(n) + &"]".repeat(n);
        check(&nested(MAX_DEPTH), &nested(MAX_DEPTH));
        check_rejected(
            &nested(MAX_DEPTH + 1),
            JsonError::TooDeep {
                path: "[0]".repeat(MAX_DEPTH),
                max: MAX_DEPTH,
            },
        );
        let objects = |n: usize| r#"{"a":"#.repeat(n) + "1" + &"}".repeat(n);
        assert!(parse_strict(objects(MAX_DEPTH).as_bytes()).is_ok());
        check_rejected(
            &objects(MAX_DEPTH + 1),
            JsonError::TooDeep {
                path: vec!["a"; MAX_DEPTH].join("."),
                max: MAX_DEPTH,
            },
        );

        // The same limit on values built in code, which never went through the parser.
        let built = |n: usize| (0..n).fold(Value::Null, |v, _| Value::Array(vec![v]));
        assert_eq!(check_value(&built(MAX_DEPTH)), Ok(()));
        assert!(canonicalize(&built(MAX_DEPTH)).is_ok());
        let too_deep = JsonError::TooDeep {
            path: "[0]".repeat(MAX_DEPTH),
            max: MAX_DEPTH,
        };
        assert_eq!(check_value(&built(MAX_DEPTH + 1)), Err(too_deep.clone()));
        assert_eq!(canonicalize(&built(MAX_DEPTH + 1)), Err(too_deep));
        assert!(check_value(&built(1000)).is_err());
    }

    #[test]
    fn syntax_errors() {
        let inputs: &[&[u8]] = &[
            b"",
            b"  ",
            b"{} x",
            b"1 2",
            b"[]]",
            b"01",
            b"-01",
            b"1.",
            b".5",
            b"-",
            b"+1",
            b"1e",
            b"1e+",
            b"0x10",
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"[1,]",
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            b"{1:2}",
            b"'a'",
            b"tru",
            b"nul",
            b"\"\t\"",
            b"\"\x00\"",
            br#""\x""#,
            br#""\u12""#,
            br#""\ud800\u12""#,
            b"\"abc",
            b"\"\xff\"",
            b"\xef\xbb\xbf{}",
            b"[1 2]",
            b"{\"a\":1 \"b\":2}",
        ];
        for input in inputs {
            match parse_strict(input) {
                Err(JsonError::Syntax(message)) => {
                    assert!(message.contains("line"), "{message}")
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
            }
        }
        assert_eq!(
            parse_strict(b"[1,\n  }").unwrap_err().to_string(),
            "invalid JSON: expected value at line 2 column 3"
        );
        assert_eq!(JsonError::Syntax(String::new()).path(), None);
    }

    #[test]
    fn strict_parse_acceptances() {
        let cases = [
            ("9007199254740991", "9007199254740991"),
            ("-9007199254740991", "-9007199254740991"),
            ("9007199254740991.0", "9007199254740991"),
            ("1.5", "1.5"),
            ("-0", "0"),
            ("-0.0e5", "0"),
            ("1e-400", "0"),
            ("1E2", "100"),
            (r#""\ud83d\ude00""#, "\"\u{1f600}\""),
            (r#""\u0000""#, r#""\u0000""#),
            (
                " \t\r\n{ \"b\" : [ 1 , 2 ] , \"a\" : { } }\n ",
                r#"{"a":{},"b":[1,2]}"#,
            ),
        ];
        for (input, expected) in cases {
            check(input, expected);
        }
    }

    #[test]
    fn numbers_are_represented_as_serde_json_does() {
        for text in [
            "0",
            "-0",
            "1",
            "-1",
            "1.0",
            "1e2",
            "-1.5e-3",
            "9007199254740991",
            "-9007199254740991",
        ] {
            let ours = parse_strict(text.as_bytes()).unwrap();
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
            let (a, b) = (ours.as_number().unwrap(), theirs.as_number().unwrap());
            assert_eq!(
                (a.is_u64(), a.is_i64(), a.is_f64()),
                (b.is_u64(), b.is_i64(), b.is_f64())
            );
        }
    }

    #[test]
    fn write_canonical_appends_and_restores_on_error() {
        let mut out = b"prefix:".to_vec();
        write_canonical(&serde_json::json!({"b": 1, "a": [true]}), &mut out).unwrap();
        assert_eq!(out, br#"prefix:{"a":[true],"b":1}"#);

        let mut out = b"prefix:".to_vec();
        let bad = serde_json::json!({"a": "long enough to be written", "z": [1, u64::MAX]});
        assert_eq!(
            write_canonical(&bad, &mut out),
            Err(JsonError::IntegerOutOfRange { path: path("z[1]") })
        );
        assert_eq!(out, b"prefix:");
    }

    #[test]
    fn error_messages_and_paths() {
        let e = parse_strict(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert_eq!(e.path(), Some("a"));
        assert_eq!(e.to_string(), r#"duplicate key "b" in object at 'a'"#);
        let e = parse_strict(b"[1e20]").unwrap_err();
        assert_eq!(
            e.to_string(),
            "number at '[0]' is an integer outside ±(2^53−1); send it as a string"
        );
    }

    // ------------------------------------------------------------------------------------------
    // Properties.

    fn arb_number() -> impl Strategy<Value = Number> {
        prop_oneof![
            (-(MAX_SAFE_INTEGER_U64 as i64)..=MAX_SAFE_INTEGER_U64 as i64).prop_map(Number::from),
            (0..=MAX_SAFE_INTEGER_U64).prop_map(Number::from),
            any::<f64>().prop_filter_map("out of range", |f| {
                check_f64(f).ok().and_then(|()| Number::from_f64(f))
            }),
            (-1e6_f64..1e6).prop_filter_map("never", Number::from_f64),
        ]
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        // Keys mix characters whose UTF-8 and UTF-16 orders disagree.
        let key = "[a\"\\\\\n\u{7f}\u{e000}\u{ffff}\u{10000}\u{1f600}]{0,3}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            arb_number().prop_map(Value::Number),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Equal but for a couple of units in the last place: serde_json's default float parsing is
    /// only best-effort.
    fn about_equal(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                x == y || (x.signum() == y.signum() && x.to_bits().abs_diff(y.to_bits()) <= 2)
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(x, y)| about_equal(x, y))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((kx, x), (ky, y))| kx == ky && about_equal(x, y))
            }
            _ => a == b,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn canonical_form_is_a_fixed_point(v in arb_value()) {
            let canonical = canonicalize(&v).unwrap();
            let reparsed = parse_strict(&canonical).unwrap();
            prop_assert_eq!(canonicalize(&reparsed).unwrap(), canonical);
        }

        #[test]
        fn reads_back_what_serde_json_writes(v in arb_value()) {
            // serde_json writes shortest round-trip floats, so a correct reader gets `v` exactly.
            let text = serde_json::to_vec_pretty(&v).unwrap();
            prop_assert_eq!(parse_strict(&text).unwrap(), v);
        }

        #[test]
        fn grammar_agrees_with_serde_json(
            v in arb_value(),
            at in any::<prop::sample::Index>(),
            edit in 0..3_u8,
            byte in prop::sample::select(b"{}[]\",:\\/u0189.eE+- tfnalrsd\x00\x7f\xc3\xff".to_vec()),
        ) {
            let mut text = serde_json::to_vec(&v).unwrap();
            let i = at.index(text.len() + 1);
            match edit {
                0 => text.insert(i, byte),
                1 if i < text.len() => { text.remove(i); }
                _ if i < text.len() => text[i] = byte,
                _ => text.push(byte),
            }
            let theirs = serde_json::from_slice::<Value>(&text);
            match parse_strict(&text) {
                Ok(ours) => {
                    let theirs = theirs.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert!(about_equal(&ours, &theirs), "{:?} vs {:?}", ours, theirs);
                }
                Err(JsonError::Syntax(message)) => {
                    prop_assert!(theirs.is_err(), "we said {}", message);
                }
                Err(_) => {}
            }
        }
    }
}
