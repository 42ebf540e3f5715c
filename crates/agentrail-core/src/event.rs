//! Event model v1: what clients send, how it is validated, and the stored event, body and leaf.
//!
//! A client event is one JSON object: an envelope (`event_id`, `session_id`, `agent_id`, `kind`,
//! `ts`, `principal`, trace ids, `attributes`) plus the body fields of its kind. Validation is
//! table-driven ([`schema`]); the same tables produce the shipped JSON Schema, so the document and
//! the code cannot drift apart.
//!
//! What is hashed (see `docs/design.md`):
//! - the **content hash**: SHA-256 of the RFC 8785 bytes of the fields the client sent, with `ts`
//!   normalized; the idempotency check compares it;
//! - the **body**: `{"nonce": b64(16 random bytes), <kind fields>, "attributes"?}`, canonicalized;
//! - the **leaf**: the canonical header with `"body_sha256"` in place of the body.
//!
//! This module never draws randomness or reads a clock: the nonce and `received_at` are passed in.

pub mod schema;

use crate::hash::{b64, Hash};
use crate::json::{self, JsonError};
use crate::timefmt;
use serde_json::{Map, Value};
use std::fmt;

/// The `schema` header value of every stored event of this version.
pub const SCHEMA_V1: &str = "agentrail.event/v1";
/// Kinds that start with this prefix are written by agentrail only.
pub const INTERNAL_PREFIX: &str = "agentrail.";
/// The session id of agentrail's own records; a client event may not use it, so those records
/// never share a session with an agent's events.
pub const RESERVED_SESSION_ID: &str = "agentrail";
/// Envelope fields a client may send, whatever the kind.
pub const ENVELOPE_FIELDS: &[&str] = &[
    "event_id",
    "session_id",
    "agent_id",
    "kind",
    "ts",
    "principal",
    "trace_id",
    "span_id",
    "parent_span_id",
    "attributes",
];
/// Header fields of a stored event (and of its leaf, where `body_sha256` replaces `body`).
pub const HEADER_FIELDS: &[&str] = &[
    "schema",
    "event_id",
    "session_id",
    "agent_id",
    "kind",
    "ts",
    "received_at",
    "source",
    "principal",
    "trace_id",
    "span_id",
    "parent_span_id",
];
const MAX_ID_LEN: usize = 256;

/// A machine-readable reason for a rejected event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The item is not JSON, or JSON without a portable canonical form.
    InvalidJson,
    /// A required field is absent.
    MissingField,
    /// A field is present but its value is not allowed.
    InvalidField,
    /// A field that the event model does not define.
    UnknownField,
    /// A kind that only agentrail itself may write.
    ReservedKind,
    /// The `kind` is not one of the v1 kinds.
    UnknownKind,
    /// The same `event_id` was already stored with different content.
    Conflict,
    /// The caller's key may not write events of this agent.
    ForbiddenAgent,
    /// The item is larger than the server accepts for one event.
    TooLarge,
}

impl ErrorCode {
    /// The stable string form used in APIs and CLI output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::ReservedKind => "reserved_kind",
            ErrorCode::UnknownKind => "unknown_kind",
            ErrorCode::Conflict => "conflict",
            ErrorCode::ForbiddenAgent => "forbidden_agent",
            ErrorCode::TooLarge => "too_large",
        }
    }
}

/// Why an event was rejected: the field (a dotted path, empty for the whole item) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub code: ErrorCode,
    pub field: String,
    pub message: String,
}

impl EventError {
    pub fn new(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        EventError {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.code.as_str(), self.message)
        } else {
            write!(
                f,
                "{}: field '{}': {}",
                self.code.as_str(),
                self.field,
                self.message
            )
        }
    }
}

impl std::error::Error for EventError {}

impl From<JsonError> for EventError {
    fn from(e: JsonError) -> Self {
        let field = e.path().unwrap_or("").to_string();
        EventError::new(ErrorCode::InvalidJson, field, e.to_string())
    }
}

/// A validated event, not yet sealed: everything the client sent, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub event_id: String,
    /// True when `event_id` was derived from the content (`c-` + 32 hex digits).
    pub event_id_derived: bool,
    pub content_hash: Hash,
    pub session_id: String,
    pub agent_id: String,
    pub kind: String,
    /// Normalized UTC timestamp.
    pub ts: String,
    pub principal: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    /// The kind's body fields and `attributes` (when sent); no nonce yet.
    pub body: Map<String, Value>,
}

/// Parses and validates one client event from raw JSON bytes.
pub fn parse_client_event(bytes: &[u8]) -> Result<ValidEvent, EventError> {
    let value = json::parse_strict(bytes)?;
    validate_client_event(value)
}

/// Validates one client event. Kinds starting with `agentrail.` are refused.
pub fn validate_client_event(value: Value) -> Result<ValidEvent, EventError> {
    json::check_value(&value)?;
    let Value::Object(mut obj) = value else {
        return Err(EventError::new(
            ErrorCode::InvalidJson,
            "",
            "an event must be a JSON object",
        ));
    };
    let kind = match obj.get("kind") {
        None => return Err(missing("kind")),
        Some(Value::String(k)) => k.clone(),
        Some(_) => return Err(invalid("kind", "must be a string")),
    };
    if kind.starts_with(INTERNAL_PREFIX) {
        return Err(EventError::new(
            ErrorCode::ReservedKind,
            "kind",
            format!("kind '{kind}' is written by agentrail only; clients may not send it"),
        ));
    }
    let Some(spec) = schema::kind_spec(&kind) else {
        return Err(EventError::new(
            ErrorCode::UnknownKind,
            "kind",
            format!(
                "unknown kind '{kind}'; expected one of: {}",
                schema::KINDS
                    .iter()
                    .map(|k| k.kind)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    };
    for key in obj.keys() {
        if !ENVELOPE_FIELDS.contains(&key.as_str()) && !spec.fields.iter().any(|f| f.name == key) {
            return Err(EventError::new(
                ErrorCode::UnknownField,
                key.clone(),
                format!("not a field of the v1 event model for kind '{kind}'"),
            ));
        }
    }
    // Envelope.
    let event_id = optional_str(&obj, "event_id")?;
    if let Some(id) = &event_id {
        check_event_id(id)?;
    }
    let session_id = required_id(&obj, "session_id")?;
    if session_id == RESERVED_SESSION_ID {
        return Err(invalid(
            "session_id",
            format!("{RESERVED_SESSION_ID:?} is reserved for agentrail's own records"),
        ));
    }
    let agent_id = required_id(&obj, "agent_id")?;
    let principal = optional_str(&obj, "principal")?;
    if let Some(p) = &principal {
        check_id("principal", p)?;
    }
    let trace_id = optional_str(&obj, "trace_id")?;
    if let Some(t) = &trace_id {
        check_hex_id("trace_id", t, 32)?;
    }
    let span_id = optional_str(&obj, "span_id")?;
    if let Some(s) = &span_id {
        check_hex_id("span_id", s, 16)?;
    }
    let parent_span_id = optional_str(&obj, "parent_span_id")?;
    if let Some(s) = &parent_span_id {
        check_hex_id("parent_span_id", s, 16)?;
    }
    let ts_raw = match obj.get("ts") {
        None => return Err(missing("ts")),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(invalid("ts", "must be an RFC 3339 string")),
    };
    let ts = timefmt::normalize_rfc3339(&ts_raw).map_err(|e| invalid("ts", e.to_string()))?;
    if let Some(attrs) = obj.get("attributes") {
        if !attrs.is_object() {
            return Err(invalid("attributes", "must be an object"));
        }
    }
    // Body fields of the kind.
    schema::validate_body(spec, &obj)?;

    // Content hash over what the client sent, with ts normalized.
    obj.insert("ts".into(), Value::String(ts.clone()));
    // An id of the derived shape (`c-` + 32 hex) is reserved for content-derived ids: one the
    // client sends must be the id its content derives (a client re-sending an event with the id
    // it was given back), and is then treated exactly as if it had been left out, so the retry is
    // a duplicate and the stored record stays recomputable.
    if event_id.as_deref().is_some_and(is_derived_shape) {
        obj.remove("event_id");
    }
    let content = Value::Object(obj);
    let content_hash = Hash::sha256(&json::canonicalize(&content)?);
    let Value::Object(obj) = content else {
        unreachable!("constructed as an object above")
    };
    let derived = derived_event_id(&content_hash);
    let (event_id, event_id_derived) = match event_id {
        Some(id) if is_derived_shape(&id) && id != derived => {
            return Err(invalid(
                "event_id",
                format!(
                    "ids of the form c-<32 hex digits> are reserved for ids derived from the content; this content derives {derived}: send that, your own id, or none"
                ),
            ))
        }
        Some(id) if is_derived_shape(&id) => (id, true),
        Some(id) => (id, false),
        None => (derived, true),
    };
    let mut body = Map::new();
    for (k, v) in obj {
        if !ENVELOPE_FIELDS.contains(&k.as_str()) || k == "attributes" {
            body.insert(k, v);
        }
    }
    Ok(ValidEvent {
        event_id,
        event_id_derived,
        content_hash,
        session_id,
        agent_id,
        kind,
        ts,
        principal,
        trace_id,
        span_id,
        parent_span_id,
        body,
    })
}

/// Builds an `agentrail.*` record. These are trusted (agentrail writes them), so they skip the
/// client rules, but they still go through the same canonical form and the same log. The body
/// lives under the kind's suffix: `agentrail.apikey` → `{"apikey": {...}}`.
pub fn internal_event(
    kind: &str,
    session_id: &str,
    agent_id: &str,
    ts: &str,
    record: Value,
) -> Result<ValidEvent, EventError> {
    let Some(suffix) = kind.strip_prefix(INTERNAL_PREFIX) else {
        return Err(invalid("kind", "internal kinds start with 'agentrail.'"));
    };
    if suffix.is_empty() {
        return Err(invalid(
            "kind",
            "internal kind needs a name after 'agentrail.'",
        ));
    }
    let ts = timefmt::normalize_rfc3339(ts).map_err(|e| invalid("ts", e.to_string()))?;
    let mut content = Map::new();
    content.insert("session_id".into(), session_id.into());
    content.insert("agent_id".into(), agent_id.into());
    content.insert("principal".into(), agent_id.into());
    content.insert("kind".into(), kind.into());
    content.insert("ts".into(), ts.clone().into());
    content.insert(suffix.to_string(), record.clone());
    let content_hash = Hash::sha256(&json::canonicalize(&Value::Object(content))?);
    let mut body = Map::new();
    body.insert(suffix.to_string(), record);
    Ok(ValidEvent {
        event_id: derived_event_id(&content_hash),
        event_id_derived: true,
        content_hash,
        session_id: session_id.into(),
        agent_id: agent_id.into(),
        kind: kind.into(),
        ts,
        principal: Some(agent_id.into()),
        trace_id: None,
        span_id: None,
        parent_span_id: None,
        body,
    })
}

/// True for ids of the derived shape: `c-` and 32 lowercase hex digits.
pub fn is_derived_shape(id: &str) -> bool {
    id.len() == 34
        && id.starts_with("c-")
        && id
            .bytes()
            .skip(2)
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `c-` followed by the first 32 hex digits of the content hash.
pub fn derived_event_id(content_hash: &Hash) -> String {
    format!("c-{}", &content_hash.to_hex()[..32])
}

/// The three byte strings agentrail stores for one event, and the hashes over them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// RFC 8785 bytes of the body (with its nonce).
    pub body: Vec<u8>,
    /// Lowercase-hex SHA-256 of `body`, as it appears in the leaf.
    pub body_sha256: Hash,
    /// RFC 8785 bytes of the header with `body_sha256`: the Merkle leaf.
    pub leaf: Vec<u8>,
    /// RFC 6962 leaf hash: SHA-256(0x00 || leaf).
    pub leaf_hash: Hash,
}

/// Seals a validated event: adds the nonce to the body and the server fields to the header.
pub fn seal(
    ev: &ValidEvent,
    received_at: &str,
    source: &str,
    nonce: [u8; 16],
) -> Result<Sealed, EventError> {
    let nonce = Value::String(b64(&nonce));
    let members = ev
        .body
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .chain([("nonce", &nonce)])
        .collect();
    let body = json::canonicalize_members(members)?;
    let body_sha256 = Hash::sha256(&body);
    let body_hex = Value::String(body_sha256.to_hex());
    let header = header_values(ev, received_at, source);
    let members = header
        .iter()
        .map(|(k, v)| (*k, v))
        .chain([("body_sha256", &body_hex)])
        .collect();
    let leaf = json::canonicalize_members(members)?;
    let leaf_hash = crate::merkle::leaf_hash(&leaf);
    Ok(Sealed {
        body,
        body_sha256,
        leaf,
        leaf_hash,
    })
}

fn header_values(ev: &ValidEvent, received_at: &str, source: &str) -> Vec<(&'static str, Value)> {
    let mut h: Vec<(&'static str, Value)> = vec![
        ("schema", SCHEMA_V1.into()),
        ("event_id", ev.event_id.clone().into()),
        ("session_id", ev.session_id.clone().into()),
        ("agent_id", ev.agent_id.clone().into()),
        ("kind", ev.kind.clone().into()),
        ("ts", ev.ts.clone().into()),
        ("received_at", received_at.into()),
        ("source", source.into()),
    ];
    for (k, v) in [
        ("principal", &ev.principal),
        ("trace_id", &ev.trace_id),
        ("span_id", &ev.span_id),
        ("parent_span_id", &ev.parent_span_id),
    ] {
        if let Some(v) = v {
            h.push((k, v.clone().into()));
        }
    }
    h
}

const BODY_HASH_KEY: &[u8] = b",\"body_sha256\":\"";

/// The stored event's canonical bytes, from its leaf and body bytes.
///
/// In RFC 8785 order `body` and `body_sha256` take the same place among the header keys (no
/// other header key starts with `body`), and header values are plain strings, in which an
/// unescaped `"` cannot occur; so replacing the `body_sha256` member by the `body` member yields
/// exactly the canonical form of the stored event. A test checks this against a full
/// canonicalization.
pub fn event_bytes(leaf: &[u8], body: &[u8]) -> Option<Vec<u8>> {
    let start = leaf
        .windows(BODY_HASH_KEY.len())
        .position(|w| w == BODY_HASH_KEY)?;
    let value_end = start + BODY_HASH_KEY.len() + 64 + 1;
    if leaf.len() < value_end || leaf[value_end - 1] != b'"' {
        return None;
    }
    let mut out = Vec::with_capacity(leaf.len() + body.len());
    out.extend_from_slice(&leaf[..start]);
    out.extend_from_slice(b",\"body\":");
    out.extend_from_slice(body);
    out.extend_from_slice(&leaf[value_end..]);
    Some(out)
}

/// The header of a stored event, as read back from its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafHeader {
    pub event_id: String,
    pub session_id: String,
    pub agent_id: String,
    pub kind: String,
    pub ts: String,
    pub received_at: String,
    pub source: String,
    pub principal: Option<String>,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub body_sha256: Hash,
}

/// Parses leaf bytes, checking that they are exactly canonical and carry the v1 header fields.
pub fn parse_leaf(leaf: &[u8]) -> Result<LeafHeader, EventError> {
    let value = json::parse_strict(leaf)?;
    if json::canonicalize(&value)? != leaf {
        return Err(EventError::new(
            ErrorCode::InvalidJson,
            "",
            "leaf bytes are not in RFC 8785 canonical form",
        ));
    }
    let Value::Object(obj) = value else {
        return Err(invalid("", "a leaf must be a JSON object"));
    };
    for key in obj.keys() {
        if key != "body_sha256" && !HEADER_FIELDS.contains(&key.as_str()) {
            return Err(EventError::new(
                ErrorCode::UnknownField,
                key.clone(),
                "not a header field of agentrail.event/v1",
            ));
        }
    }
    let get = |k: &str| -> Result<Option<String>, EventError> {
        match obj.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(k, "must be a string")),
        }
    };
    let req = |k: &str| -> Result<String, EventError> { get(k)?.ok_or_else(|| missing(k)) };
    if req("schema")? != SCHEMA_V1 {
        return Err(invalid("schema", format!("expected '{SCHEMA_V1}'")));
    }
    let body_hex = req("body_sha256")?;
    let body_sha256 = match Hash::from_hex(&body_hex) {
        Some(h) if h.to_hex() == body_hex => h,
        _ => return Err(invalid("body_sha256", "must be 64 lowercase hex digits")),
    };
    Ok(LeafHeader {
        event_id: req("event_id")?,
        session_id: req("session_id")?,
        agent_id: req("agent_id")?,
        kind: req("kind")?,
        ts: req("ts")?,
        received_at: req("received_at")?,
        source: req("source")?,
        principal: get("principal")?,
        trace_id: get("trace_id")?,
        span_id: get("span_id")?,
        parent_span_id: get("parent_span_id")?,
        body_sha256,
    })
}

/// Computes the leaf bytes from a stored event's canonical bytes (as `agentrail event get` prints
/// them): canonicalizes the body, hashes it, and puts the hash in its place. This is what an
/// offline verifier does; it trusts nothing but the bytes given.
pub fn leaf_from_event(event: &[u8]) -> Result<Vec<u8>, EventError> {
    let value = json::parse_strict(event)?;
    let Value::Object(mut obj) = value else {
        return Err(invalid("", "a stored event must be a JSON object"));
    };
    let Some(body) = obj.remove("body") else {
        return Err(missing("body"));
    };
    if obj.contains_key("body_sha256") {
        return Err(EventError::new(
            ErrorCode::UnknownField,
            "body_sha256",
            "a stored event carries its body, not the body's hash",
        ));
    }
    let body_hash = Hash::sha256(&json::canonicalize(&body)?);
    obj.insert("body_sha256".into(), Value::String(body_hash.to_hex()));
    let leaf = json::canonicalize(&Value::Object(obj))?;
    parse_leaf(&leaf)?;
    Ok(leaf)
}

/// Recomputes the content hash from a stored header and its body (with nonce): the fields the
/// client sent are the header minus what agentrail added, plus the body minus the nonce. Used by
/// `verify` to cross-check the idempotency record against the leaf.
pub fn content_hash_of_stored(header: &LeafHeader, body: &[u8]) -> Result<Hash, EventError> {
    content_hash_of_stored_value(header, json::parse_strict(body)?)
}

/// [`content_hash_of_stored`] for a body already parsed (`verify` parses each body once).
pub fn content_hash_of_stored_value(header: &LeafHeader, body: Value) -> Result<Hash, EventError> {
    let Value::Object(mut body) = body else {
        return Err(invalid("body", "must be a JSON object"));
    };
    body.remove("nonce");
    let mut content = body;
    content.insert("session_id".into(), header.session_id.clone().into());
    content.insert("agent_id".into(), header.agent_id.clone().into());
    content.insert("kind".into(), header.kind.clone().into());
    content.insert("ts".into(), header.ts.clone().into());
    for (k, v) in [
        ("principal", &header.principal),
        ("trace_id", &header.trace_id),
        ("span_id", &header.span_id),
        ("parent_span_id", &header.parent_span_id),
    ] {
        if let Some(v) = v {
            content.insert(k.into(), v.clone().into());
        }
    }
    let mut content = Value::Object(content);
    // Only an id of the derived shape can have been derived; others were sent by the client.
    if is_derived_shape(&header.event_id) {
        let without_id = Hash::sha256(&json::canonicalize(&content)?);
        if derived_event_id(&without_id) == header.event_id {
            return Ok(without_id);
        }
    }
    content["event_id"] = header.event_id.clone().into();
    Ok(Hash::sha256(&json::canonicalize(&content)?))
}

pub(crate) fn missing(field: &str) -> EventError {
    EventError::new(ErrorCode::MissingField, field, "is required")
}

pub(crate) fn invalid(field: &str, message: impl Into<String>) -> EventError {
    EventError::new(ErrorCode::InvalidField, field, message)
}

fn optional_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, EventError> {
    match obj.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn required_id(obj: &Map<String, Value>, field: &str) -> Result<String, EventError> {
    let s = optional_str(obj, field)?.ok_or_else(|| missing(field))?;
    check_id(field, &s)?;
    Ok(s)
}

/// Identifiers (session, agent, principal): 1 to 256 characters, no control characters.
pub(crate) fn check_id(field: &str, s: &str) -> Result<(), EventError> {
    if s.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.chars().count() > MAX_ID_LEN {
        return Err(invalid(
            field,
            format!("must be at most {MAX_ID_LEN} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_event_id(id: &str) -> Result<(), EventError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if id.is_empty() || id.len() > 128 || !id.chars().all(ok_char) {
        return Err(invalid(
            "event_id",
            "must be 1 to 128 characters of [A-Za-z0-9._:-]",
        ));
    }
    Ok(())
}

fn check_hex_id(field: &str, s: &str, len: usize) -> Result<(), EventError> {
    let hex = s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !hex || s.bytes().all(|b| b == b'0') {
        return Err(invalid(
            field,
            format!("must be {len} lowercase hex digits, not all zero (W3C trace context)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
