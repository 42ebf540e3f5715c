//! What the index needs from one stored event, read from its leaf and body bytes.
//!
//! The ledger's bytes are trusted here (`agentrail verify` is what checks them); this module
//! only picks fields out, borrowing where it can, so that indexing ten million events is cheap.
//! A body that is erased or that does not parse still yields the header's facts.

use serde::Deserialize;
use std::borrow::Cow;

/// The prefix of kinds agentrail writes itself: never part of a session.
pub const INTERNAL_PREFIX: &str = "agentrail.";

/// The leaf header members the index reads.
#[derive(Debug, Deserialize)]
pub struct Header<'a> {
    #[serde(borrow)]
    pub event_id: Cow<'a, str>,
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
    #[serde(borrow)]
    pub agent_id: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow)]
    pub ts: Cow<'a, str>,
    #[serde(borrow, default)]
    pub principal: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub span_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub parent_span_id: Option<Cow<'a, str>>,
}

/// The body members the index reads; everything else is skipped unparsed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Body<'a> {
    #[serde(borrow)]
    pub trigger: Option<Trigger<'a>>,
    #[serde(borrow)]
    pub authorization: Option<Authorization<'a>>,
    #[serde(borrow)]
    pub parent_session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub action: Option<Action<'a>>,
    #[serde(borrow)]
    pub decision: Option<Decision<'a>>,
    #[serde(borrow)]
    pub diff: Option<Diff<'a>>,
    #[serde(borrow)]
    pub outcome: Option<Outcome<'a>>,
    pub attributes: Option<Attributes>,
    /// `agentrail.access` records.
    pub access: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Trigger<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub initiator: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub request_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub request: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub schedule: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Authorization<'a> {
    #[serde(borrow)]
    pub decision: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub policy: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Action<'a> {
    #[serde(borrow, rename = "type")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub resource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub resource_ids: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub operation: Option<Cow<'a, str>>,
    /// An integer ≥ 0 (the validator also accepts `2.0`, which canonical JSON writes `2`).
    pub count: Option<serde_json::Value>,
}

impl Action<'_> {
    /// The record count, when the event gives one.
    pub fn count(&self) -> Option<u64> {
        self.count.as_ref().and_then(|v| v.as_u64())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Decision<'a> {
    #[serde(borrow)]
    pub name: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Diff<'a> {
    #[serde(borrow)]
    pub system: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub resource: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Outcome<'a> {
    #[serde(borrow)]
    pub status: Option<Cow<'a, str>>,
}

/// An event's `attributes`: free-form key/values.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Attributes(pub serde_json::Map<String, serde_json::Value>);

/// The attribute listing the body fields that hold the placeholder `unknown` (OTLP mapping).
pub const MISSING: &str = "agentrail.missing";

impl Attributes {
    /// The conversation or thread the run belongs to, if the event names one.
    pub fn conversation_id(&self) -> Option<&str> {
        [
            "agentrail.conversation.id",
            "gen_ai.conversation.id",
            "conversation_id",
        ]
        .into_iter()
        .find_map(|k| self.0.get(k)?.as_str().filter(|s| !s.is_empty()))
    }

    /// True when `field` (`trigger.initiator`, `action.system`, ...) is recorded as missing:
    /// its value is a placeholder, so it counts as absent.
    pub fn is_missing(&self, field: &str) -> bool {
        self.0
            .get(MISSING)
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(field)))
    }
}

/// True when `field` of an event with these attributes is recorded as missing.
pub fn missing(attributes: &Option<Attributes>, field: &str) -> bool {
    attributes.as_ref().is_some_and(|a| a.is_missing(field))
}

/// Reads the header of a leaf.
pub fn header(leaf: &[u8]) -> Result<Header<'_>, serde_json::Error> {
    serde_json::from_slice(leaf)
}

/// Reads the fields of a body; an erased body reads as empty.
pub fn body(body: Option<&[u8]>) -> Result<Body<'_>, serde_json::Error> {
    match body {
        Some(b) => serde_json::from_slice(b),
        None => Ok(Body::default()),
    }
}

/// The resource keys an action touches: the resource as named, and each record id.
pub fn action_resources<'a>(a: &'a Action<'a>) -> impl Iterator<Item = &'a str> {
    a.resource
        .as_deref()
        .into_iter()
        .chain(a.resource_ids.iter().flatten().map(|c| c.as_ref()))
        .filter(|s| !s.is_empty())
}
