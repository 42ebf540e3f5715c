//! Redaction: secret values in a client event are replaced by keyed HMACs before anything is stored.
//!
//! A [`Redactor`] holds the per-log HMAC key and the policy (field names and value patterns). Every
//! ingest path (native JSON, OTLP, CLI ingest) calls [`Redactor::redact_event`] on the client event
//! as parsed, before validation and canonicalization, so what is hashed into the log is the
//! redacted event. A replaced value reads `hmac-sha256:<64 lowercase hex>`: HMAC-SHA256 under the
//! log's key of the original text, so the same secret can be correlated across events (and looked
//! up by whoever holds the key) but not read. Secrets are found by the name of the field that
//! holds them and by patterns in string values; a string holding a JSON document (tool-call
//! arguments) is redacted as structure. `docs/redaction.md` is the user-facing description of
//! every rule here.
//!
//! This module must never: touch the structural envelope fields (they identify and link events),
//! rewrite object keys, change the type of a v1 field whose type a replacement would break (an
//! enumeration, a number, an object), draw randomness or read a clock (redaction is a pure
//! function of the key, the policy and the event, so a retried event keeps its content hash), or
//! log or print the key or an original value.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::RwLock;

use agentrail_core::event::schema::{self, Field, Ty};
use hmac::{Hmac, Mac};
use regex::{Regex, RegexSet};
use serde_json::{Map, Number, Value};
use sha2::Sha256;

/// What every replacement starts with; 64 lowercase hex digits follow.
pub const REPLACEMENT_PREFIX: &str = "hmac-sha256:";
/// The shortest key [`Redactor::new`] accepts, in bytes: the HMAC-SHA256 output length, below
/// which RFC 2104 (section 3) discourages keys.
pub const MIN_KEY_LEN: usize = 32;

const HEX_LEN: usize = 64;
/// How deep JSON texts inside strings are parsed (a string holding JSON whose strings hold JSON is
/// two levels). Deeper texts are redacted as text, by the patterns.
const MAX_EMBEDDED_JSON: usize = 3;

/// Top-level fields never touched: they identify and link events (`principal` names the identity
/// the agent acted as; it is a reference to a credential, never the credential). So is
/// `parent_session_id` of `session.start`: it is another event's `session_id`, and the link must
/// survive.
const STRUCTURAL: &[&str] = &[
    "event_id",
    "session_id",
    "agent_id",
    "kind",
    "ts",
    "trace_id",
    "span_id",
    "parent_span_id",
    "principal",
    "parent_session_id",
];

/// Default secret field names, as word sequences (see [`words`]). A key matches when its words
/// contain one of these as a contiguous run, so `set cookie`, `client secret` and `session token`
/// need no entry of their own.
const DEFAULT_NAMES: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "api key",
    "api keys",
    "apikey",
    "apikeys",
    "authorization",
    "cookie",
    "cookies",
    "private key",
    "privatekey",
    "access key",
    "credential",
    "credentials",
];

/// Default carve-outs: word runs that name a *measure* of tokens (the unit models count text in),
/// not a secret. A name match covered by one of these runs is not a match.
const DEFAULT_ALLOW_NAMES: &[&str] = &[
    "token count",
    "token counts",
    "token usage",
    "token limit",
    "token type",
];

/// Default value patterns, `(name, regex)`, applied in this order. When a regex has a group named
/// `secret`, only that group is replaced and the rest of the match stays readable.
#[rustfmt::skip]
const DEFAULT_PATTERNS: &[(&str, &str)] = &[
    // An unterminated block (a truncated log line) is redacted to the end of the string.
    ("pem_private_key", r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*)"),
    ("url_credentials", r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/?#@]*:(?P<secret>[^\s/?#@]+)@"),
    ("aws_secret_access_key", r#"(?i)\b(?:aws[_-]?)?secret[_-]?access[_-]?key["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9/+=]+)"#),
    ("bearer_token", r"(?i)\bbearer\s+(?P<secret>[A-Za-z0-9\-._~+/]{16,}=*)"),
    ("basic_auth_header", r"(?i)\bauthorization:\s*basic\s+(?P<secret>[A-Za-z0-9+/]+=*)"),
    ("jwt", r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    ("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    ("anthropic_api_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
    ("openai_api_key", r"\bsk-[A-Za-z0-9_-]{20,}"),
    ("stripe_secret_key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("google_api_key", r"\bAIza[A-Za-z0-9_-]{35}"),
    ("aws_access_key_id", r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
];

/// The `[redaction]` table of a policy file. Every field is optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Extra secret field names, matched like the defaults.
    pub names: Vec<String>,
    /// Extra value patterns, applied after the defaults.
    pub patterns: Vec<PatternConfig>,
    /// Drop the default names (and the default carve-outs that go with them).
    pub disable_default_names: bool,
    /// Drop the default value patterns.
    pub disable_default_patterns: bool,
    /// Word runs that cancel a name match they contain (for example a field that merely contains
    /// `token`): a key is not redacted by name because of the words such a run covers.
    pub allow_names: Vec<String>,
}

/// One value pattern. A group named `secret` limits the replacement to that group.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternConfig {
    pub name: String,
    pub regex: String,
}

/// Why a redaction policy could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// The HMAC key is shorter than [`MIN_KEY_LEN`].
    #[error("the redaction key is {len} bytes; it must be at least {min}: generate it from a secure random source, for example `openssl rand -hex 32`")]
    KeyTooShort { len: usize, min: usize },
    /// A value pattern has no name or is not a valid regular expression.
    #[error("redaction pattern `{name}`: {reason}")]
    Pattern { name: String, reason: String },
    /// An entry of `names` or `allow_names` (`list`) has no letters or digits.
    #[error("redaction.{list} entry `{name}`: {reason}")]
    Name {
        list: &'static str,
        name: String,
        reason: &'static str,
    },
    /// The policy file is not TOML or not the policy's shape (an unknown key, a wrong type).
    /// `path` is the dotted path of the offending item (`redaction.patterns[0].rgex`), empty when
    /// the text is not TOML; `line` and `column` count from 1.
    #[error("redaction policy{}: {message}", toml_location(.path, *.line, *.column))]
    Toml {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
}

fn toml_location(path: &str, line: usize, column: usize) -> String {
    match (path.is_empty(), line) {
        (true, 0) => String::new(),
        (true, _) => format!(" at line {line}, column {column}"),
        (false, 0) => format!(" `{path}`"),
        (false, _) => format!(" `{path}` at line {line}, column {column}"),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    redaction: PolicyConfig,
}

fn parse_toml(text: &str) -> Result<PolicyConfig, RedactError> {
    toml::from_str::<PolicyFile>(text)
        .map(|file| file.redaction)
        .map_err(|e| {
            let at = e.span().map(|span| span.start);
            let path = at.and_then(|at| toml_path(text, at)).unwrap_or_default();
            let (line, column) = at.map_or((0, 0), |at| line_column(text, at));
            RedactError::Toml {
                path,
                line,
                column,
                message: e.message().to_owned(),
            }
        })
}

fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at).unwrap_or(text);
    let line = 1 + before.matches('\n').count();
    let column = 1 + before.rsplit('\n').next().unwrap_or("").chars().count();
    (line, column)
}

/// The dotted path of the innermost key or value of `text` whose span contains byte `at`.
fn toml_path(text: &str, at: usize) -> Option<String> {
    use toml::de::{DeTable, DeValue};
    use toml::Spanned;

    fn in_table(table: &DeTable<'_>, at: usize, prefix: &str) -> Option<String> {
        table.iter().find_map(|(key, value)| {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            in_value(value, at, &path).or_else(|| key.span().contains(&at).then_some(path))
        })
    }

    fn in_value(value: &Spanned<DeValue<'_>>, at: usize, path: &str) -> Option<String> {
        let inner = match value.get_ref() {
            DeValue::Table(table) => in_table(table, at, path),
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| in_value(item, at, &format!("{path}[{i}]"))),
            _ => None,
        };
        inner.or_else(|| value.span().contains(&at).then(|| path.to_owned()))
    }

    let table = DeTable::parse(text).ok()?;
    in_table(table.get_ref(), at, "")
}

/// One compiled value pattern.
#[derive(Debug)]
struct Pattern {
    name: String,
    regex: Regex,
    /// The index of the group named `secret`, if the regex has one.
    secret_group: Option<usize>,
}

/// A redaction policy bound to one log's HMAC key. `Send + Sync`; share it in an `Arc`.
pub struct Redactor {
    /// Keyed once; every HMAC clones this state.
    mac: Hmac<Sha256>,
    /// Secret field names, as word sequences. INVARIANT: no sequence is empty.
    names: Vec<Vec<String>>,
    /// Carve-outs from `names`, as word sequences. INVARIANT: no sequence is empty.
    allow: Vec<Vec<String>>,
    patterns: Vec<Pattern>,
    /// All patterns at once: one scan tells whether a string needs any of them.
    any_pattern: RegexSet,
    /// Whether a key names a secret, remembered: keys repeat across events far more than they
    /// vary. Bounded; once full, new keys are judged without being remembered.
    name_cache: RwLock<HashMap<String, bool>>,
}

/// Keys remembered by [`Redactor::is_secret_name`] at most, and the longest remembered: at most
/// about 2 MiB however keys are chosen.
const NAME_CACHE_MAX: usize = 16_384;
const NAME_CACHE_KEY_MAX: usize = 128;

impl fmt::Debug for Redactor {
    // The key is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("names", &self.names.len())
            .field("allow_names", &self.allow.len())
            .field(
                "patterns",
                &self.patterns.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor with `key` (at least [`MIN_KEY_LEN`] bytes) and the policy `config`.
    pub fn new(key: &[u8], config: &PolicyConfig) -> Result<Self, RedactError> {
        if key.len() < MIN_KEY_LEN {
            return Err(RedactError::KeyTooShort {
                len: key.len(),
                min: MIN_KEY_LEN,
            });
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
        let mut names = Vec::new();
        let mut allow = Vec::new();
        if !config.disable_default_names {
            names.extend(DEFAULT_NAMES.iter().map(|n| words(n)));
            allow.extend(DEFAULT_ALLOW_NAMES.iter().map(|n| words(n)));
        }
        for name in &config.names {
            names.push(name_words("names", name)?);
        }
        for name in &config.allow_names {
            allow.push(name_words("allow_names", name)?);
        }
        let mut patterns = Vec::new();
        if !config.disable_default_patterns {
            for (name, regex) in DEFAULT_PATTERNS {
                patterns.push(compile(name, regex)?);
            }
        }
        for p in &config.patterns {
            patterns.push(compile(&p.name, &p.regex)?);
        }
        let any_pattern =
            RegexSet::new(patterns.iter().map(|p| p.regex.as_str())).map_err(|e| {
                RedactError::Pattern {
                    name: "(all patterns together)".into(),
                    reason: e.to_string(),
                }
            })?;
        Ok(Redactor {
            mac,
            names,
            allow,
            patterns,
            any_pattern,
            name_cache: RwLock::new(HashMap::new()),
        })
    }

    /// A redactor from a policy file: a TOML document whose optional `[redaction]` table has the
    /// fields of [`PolicyConfig`]. Unknown keys are errors.
    pub fn from_toml(key: &[u8], toml_text: &str) -> Result<Self, RedactError> {
        let config = parse_toml(toml_text)?;
        Redactor::new(key, &config)
    }

    /// The default secret field names, as written in `docs/redaction.md`.
    pub fn default_names() -> &'static [&'static str] {
        DEFAULT_NAMES
    }

    /// The default carve-outs from the names (runs that count tokens rather than hold one).
    pub fn default_allow_names() -> &'static [&'static str] {
        DEFAULT_ALLOW_NAMES
    }

    /// The default value patterns, `(name, regex)`, in the order they are applied.
    pub fn default_patterns() -> &'static [(&'static str, &'static str)] {
        DEFAULT_PATTERNS
    }

    /// `hmac-sha256:` followed by the lowercase hex HMAC-SHA256, under this log's key, of the
    /// UTF-8 bytes of `text`. This is what a secret `text` is replaced with, so an investigator
    /// holding the key can search the log for a known value.
    pub fn hmac(&self, text: &str) -> String {
        let tag = self.mac.clone().chain_update(text.as_bytes()).finalize();
        let mut out = String::with_capacity(REPLACEMENT_PREFIX.len() + HEX_LEN);
        out.push_str(REPLACEMENT_PREFIX);
        out.push_str(&agentrail_core::hash::to_hex(&tag.into_bytes()));
        out
    }

    /// Redacts `event` in place and returns how many replacements were made (each value replaced
    /// by name, plus each substring replaced by a pattern). Redacting the result again changes
    /// nothing and returns 0.
    pub fn redact_event(&self, event: &mut Value) -> usize {
        let Value::Object(obj) = event else {
            // Not an event (validation rejects it); redact it all the same.
            return self.walk_free(event, 0);
        };
        let spec = obj
            .get("kind")
            .and_then(Value::as_str)
            .and_then(schema::kind_spec);
        let mut count = 0;
        for (key, value) in obj.iter_mut() {
            if STRUCTURAL.contains(&key.as_str()) {
                continue;
            }
            let ty = if key == "attributes" {
                Some(Ty::Any)
            } else {
                spec.and_then(|s| field_ty(s.fields, key))
            };
            count += match ty {
                Some(ty) => self.walk_field(key, ty, value),
                None => self.walk_member(key, value, 0),
            };
        }
        count
    }

    /// Whether `key` names a secret: its words contain a name's words as a contiguous run that
    /// no allow run in the same key covers.
    fn is_secret_name(&self, key: &str) -> bool {
        if let Some(&known) = self
            .name_cache
            .read()
            .ok()
            .and_then(|c| c.get(key).copied())
            .as_ref()
        {
            return known;
        }
        let secret = self.judge_name(key);
        if key.len() > NAME_CACHE_KEY_MAX {
            return secret; // clients choose keys: only short, ordinary ones are remembered
        }
        if let Ok(mut cache) = self.name_cache.write() {
            if cache.len() < NAME_CACHE_MAX {
                cache.insert(key.to_owned(), secret);
            }
        }
        secret
    }

    fn judge_name(&self, key: &str) -> bool {
        let key = words(key);
        self.names.iter().any(|name| {
            runs(&key, name).any(|at| {
                !self
                    .allow
                    .iter()
                    .any(|allow| covers(&key, allow, at..at + name.len()))
            })
        })
    }

    /// A member of an object whose schema we do not know (free-form data).
    /// `embedded` counts the JSON texts (strings holding JSON) around `value`.
    fn walk_member(&self, key: &str, value: &mut Value, embedded: usize) -> usize {
        if self.is_secret_name(key) {
            self.replace_leaves(value)
        } else {
            self.walk_free(value, embedded)
        }
    }

    /// A field the v1 schema defines. A name match replaces the value only where the field's
    /// type admits a string in place of each leaf; enumerations, numbers and objects keep their
    /// type (objects are walked field by field), so a valid event stays valid.
    fn walk_field(&self, key: &str, ty: Ty, value: &mut Value) -> usize {
        match (ty, value) {
            (Ty::Enum(_) | Ty::UInt | Ty::NonNegNumber, value) => self.walk_free(value, 0),
            (Ty::Object(fields), Value::Object(map)) => self.walk_fields(fields, map),
            (Ty::ObjArray(fields), Value::Array(items)) => items
                .iter_mut()
                .map(|item| match item {
                    Value::Object(map) => self.walk_fields(fields, map),
                    other => self.walk_free(other, 0),
                })
                .sum(),
            (Ty::Object(_) | Ty::ObjArray(_), value) => self.walk_free(value, 0),
            (_, value) => self.walk_member(key, value, 0),
        }
    }

    fn walk_fields(&self, fields: &[Field], map: &mut Map<String, Value>) -> usize {
        map.iter_mut()
            .map(|(key, value)| match field_ty(fields, key) {
                Some(ty) => self.walk_field(key, ty, value),
                None => self.walk_member(key, value, 0),
            })
            .sum()
    }

    /// Free-form data: names apply to every key, patterns to every string.
    fn walk_free(&self, value: &mut Value, embedded: usize) -> usize {
        match value {
            Value::Object(map) => map
                .iter_mut()
                .map(|(key, value)| self.walk_member(key, value, embedded))
                .sum(),
            Value::Array(items) => items.iter_mut().map(|v| self.walk_free(v, embedded)).sum(),
            Value::String(s) => self.redact_string(s, embedded),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
    }

    /// The value of a secret name: every string and number inside it is replaced (booleans,
    /// nulls, keys and the shape stay).
    fn replace_leaves(&self, value: &mut Value) -> usize {
        match value {
            Value::String(s) if is_replacement(s) => 0,
            Value::String(s) => {
                *s = self.hmac(s);
                1
            }
            Value::Number(n) => {
                *value = Value::String(self.hmac(&number_text(n)));
                1
            }
            Value::Object(map) => map.values_mut().map(|v| self.replace_leaves(v)).sum(),
            Value::Array(items) => items.iter_mut().map(|v| self.replace_leaves(v)).sum(),
            Value::Null | Value::Bool(_) => 0,
        }
    }

    /// A string in free-form data. When its text is a JSON object or array (tool-call arguments
    /// usually are), that document is redacted like the event's own structure and, only if
    /// something was replaced, re-encoded compactly; otherwise the patterns apply to the text.
    ///
    /// INVARIANT: idempotent. A re-encoded text parses back to the value just redacted, in which
    /// nothing is left to replace; an untouched text is met again exactly as it was.
    fn redact_string(&self, s: &mut String, embedded: usize) -> usize {
        if embedded < MAX_EMBEDDED_JSON {
            if let Some(mut doc) = embedded_json(s) {
                let count = self.walk_free(&mut doc, embedded + 1);
                if count > 0 {
                    agentrail_core::json::sort_keys(&mut doc);
                    *s = doc.to_string();
                }
                return count;
            }
        }
        self.redact_text(s)
    }

    /// Applies every pattern to the text between the replacements of `s` until none matches
    /// there.
    ///
    /// INVARIANT: the result is a fixed point, so redaction is idempotent. A replacement made by
    /// one pattern can create a match for an earlier one (a replacement is a hard boundary, where
    /// `\b` and `^` hold), hence the loop. It ends: each change replaces a non-empty span of the
    /// text between replacements by a replacement, so that text strictly shrinks. (A replacement
    /// is found again exactly where it was put: its prefix cannot overlap itself and holds
    /// letters that are not hex digits.)
    fn redact_text(&self, s: &mut String) -> usize {
        // Most strings match no pattern: one combined scan settles them.
        if !self.any_pattern.is_match(s) && !s.contains(REPLACEMENT_PREFIX) {
            return 0;
        }
        let mut count = 0;
        loop {
            let before = count;
            for pattern in &self.patterns {
                count += self.apply(pattern, s);
            }
            if count == before {
                return count;
            }
        }
    }

    /// One left-to-right pass of `pattern` over each stretch of `s` between replacements.
    fn apply(&self, pattern: &Pattern, s: &mut String) -> usize {
        if !pattern.regex.is_match(s) && !s.contains(REPLACEMENT_PREFIX) {
            return 0;
        }
        let mut out = String::with_capacity(s.len());
        let mut count = 0;
        let mut pos = 0;
        for token in replacement_spans(s) {
            count += self.apply_between(pattern, &s[pos..token.start], &mut out);
            out.push_str(&s[token.clone()]);
            pos = token.end;
        }
        count += self.apply_between(pattern, &s[pos..], &mut out);
        if count > 0 {
            *s = out;
        }
        count
    }

    /// Appends `text` to `out` with each non-empty match of `pattern` (or of its `secret` group)
    /// replaced; returns the number of replacements.
    fn apply_between(&self, pattern: &Pattern, text: &str, out: &mut String) -> usize {
        let mut count = 0;
        let mut last = 0;
        for caps in pattern.regex.captures_iter(text) {
            let Some(m) = caps.get(pattern.secret_group.unwrap_or(0)) else {
                continue;
            };
            if m.is_empty() {
                continue;
            }
            out.push_str(&text[last..m.start()]);
            out.push_str(&self.hmac(m.as_str()));
            last = m.end();
            count += 1;
        }
        out.push_str(&text[last..]);
        count
    }
}

fn compile(name: &str, regex: &str) -> Result<Pattern, RedactError> {
    if name.trim().is_empty() {
        return Err(RedactError::Pattern {
            name: name.to_owned(),
            reason: format!("the pattern for `{regex}` has no name: give every pattern a name"),
        });
    }
    let compiled = Regex::new(regex).map_err(|e| RedactError::Pattern {
        name: name.to_owned(),
        reason: format!("not a valid regular expression: {e}"),
    })?;
    let secret_group = compiled
        .capture_names()
        .position(|group| group == Some("secret"));
    Ok(Pattern {
        name: name.to_owned(),
        regex: compiled,
        secret_group,
    })
}

fn name_words(list: &'static str, name: &str) -> Result<Vec<String>, RedactError> {
    let w = words(name);
    if w.is_empty() {
        return Err(RedactError::Name {
            list,
            name: name.to_owned(),
            reason: "it has no letters or digits; write a field name such as `ssn`",
        });
    }
    Ok(w)
}

fn field_ty(fields: &[Field], key: &str) -> Option<Ty> {
    fields.iter().find(|f| f.name == key).map(|f| f.ty)
}

/// The lowercase words of a key: split on every character that is not a letter or a digit, at
/// lowerCamel and UpperCamel boundaries (`apiKey`, `HTTPHeader` -> `http header`) and between
/// letters and digits (`oauth2Token` -> `oauth 2 token`).
pub(crate) fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut out = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = prev.is_alphanumeric()
                && ((prev.is_lowercase() && c.is_uppercase())
                    || (prev.is_uppercase() && c.is_uppercase() && next_lower)
                    || (prev.is_alphabetic() != c.is_alphabetic()));
            if boundary && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Where `needle` occurs in `hay` as a contiguous run.
fn runs<'a>(hay: &'a [String], needle: &'a [String]) -> impl Iterator<Item = usize> + 'a {
    hay.windows(needle.len())
        .enumerate()
        .filter(move |(_, w)| *w == needle)
        .map(|(i, _)| i)
}

/// Whether a run of `allow` in `hay` contains the words `span`.
fn covers(hay: &[String], allow: &[String], span: Range<usize>) -> bool {
    if allow.len() < span.len() {
        return false;
    }
    let first = span.end.saturating_sub(allow.len());
    (first..=span.start).any(|at| hay.get(at..at + allow.len()) == Some(allow))
}

/// The JSON object or array that `s` encodes, if it encodes one.
fn embedded_json(s: &str) -> Option<Value> {
    if !s.trim_start().starts_with(['{', '[']) {
        return None;
    }
    serde_json::from_str::<Value>(s)
        .ok()
        .filter(|doc| doc.is_object() || doc.is_array())
}

/// Whether `s` is exactly one replacement.
fn is_replacement(s: &str) -> bool {
    s.strip_prefix(REPLACEMENT_PREFIX)
        .is_some_and(|hex| hex.len() == HEX_LEN && hex.bytes().all(is_lower_hex))
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// The byte ranges of the replacements in `s`, in order.
fn replacement_spans(s: &str) -> Vec<Range<usize>> {
    s.match_indices(REPLACEMENT_PREFIX)
        .filter_map(|(at, _)| {
            let hex = at + REPLACEMENT_PREFIX.len();
            let end = hex + HEX_LEN;
            s.as_bytes()
                .get(hex..end)
                .filter(|h| h.iter().copied().all(is_lower_hex))
                .map(|_| at..end)
        })
        .collect()
}

/// The text a number is HMAC'd as: its RFC 8785 form (what the stored event would show, so `1e3`
/// and `1000` correlate), or serde_json's text for a number RFC 8785 cannot write.
fn number_text(n: &Number) -> String {
    agentrail_core::json::canonicalize(&Value::Number(n.clone()))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| n.to_string())
}

#[cfg(test)]
mod tests;
