//! The v1 body of every client kind, as data: which fields, which are required, what type.
//!
//! Validation walks these tables, and [`json_schema`] renders them as the JSON Schema shipped in
//! `schema/event-v1.schema.json` (a test keeps the file equal to the rendering), so the document
//! users code against and the code that judges their events are one thing.

use super::{invalid, missing, ErrorCode, EventError};
use serde_json::{json, Map, Value};

/// A field's type.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    /// Any string.
    Str,
    /// A string of at least one character.
    NonEmptyStr,
    /// One of the listed strings.
    Enum(&'static [&'static str]),
    /// An array of strings.
    StrArray,
    /// An array of any JSON values.
    Array,
    /// A string or a number (an identifier of a record).
    Scalar,
    /// Any JSON value.
    Any,
    /// A non-negative integer.
    UInt,
    /// A non-negative number.
    NonNegNumber,
    /// An object with exactly these fields.
    Object(&'static [Field]),
    /// An array of objects with exactly these fields.
    ObjArray(&'static [Field]),
}

/// One field of a body.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
    pub ty: Ty,
    pub doc: &'static str,
}

const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        required: true,
        ty,
        doc,
    }
}

const fn opt(name: &'static str, ty: Ty, doc: &'static str) -> Field {
    Field {
        name,
        required: false,
        ty,
        doc,
    }
}

/// The body fields of one kind (top-level keys besides the envelope).
#[derive(Debug, Clone, Copy)]
pub struct KindSpec {
    pub kind: &'static str,
    pub fields: &'static [Field],
    pub doc: &'static str,
}

pub const TRIGGER_TYPES: &[&str] = &["user", "schedule", "system", "agent"];
pub const ACTION_TYPES: &[&str] = &[
    "read",
    "write",
    "create",
    "update",
    "delete",
    "query",
    "api_call",
    "tool_call",
    "model_call",
    "send",
    "state_change",
];
pub const ACTION_STATUSES: &[&str] = &["ok", "error", "denied"];
pub const OUTCOME_STATUSES: &[&str] = &["succeeded", "failed", "cancelled", "partial"];

const TRIGGER: &[Field] = &[
    req("type", Ty::Enum(TRIGGER_TYPES), "what started the run"),
    req(
        "initiator",
        Ty::NonEmptyStr,
        "who or what started it: a user, a schedule name, a system, an agent",
    ),
    opt(
        "request_id",
        Ty::Str,
        "the external request id this run serves",
    ),
    opt(
        "request",
        Ty::Str,
        "what was asked, in the initiator's words",
    ),
    opt(
        "schedule",
        Ty::Str,
        "the schedule (cron expression or name) for scheduled runs",
    ),
];

const AUTHORIZATION: &[Field] = &[
    opt("policy", Ty::Str, "the policy that authorized the run"),
    opt("policy_hash", Ty::Str, "hash of that policy's text"),
    req(
        "decision",
        Ty::Enum(&["allow", "deny"]),
        "the authorization decision",
    ),
    opt("permissions", Ty::StrArray, "permissions held at run time"),
    opt("granted_by", Ty::Str, "who or what granted them"),
];

const TOKENS: &[Field] = &[
    opt("input", Ty::UInt, "input tokens"),
    opt("output", Ty::UInt, "output tokens"),
];

const ACTION: &[Field] = &[
    req("type", Ty::Enum(ACTION_TYPES), "what kind of access"),
    req(
        "system",
        Ty::NonEmptyStr,
        "the system acted on (crm, s3, openai, ...)",
    ),
    opt(
        "resource",
        Ty::NonEmptyStr,
        "the resource acted on; required except for model_call",
    ),
    opt("resource_ids", Ty::StrArray, "ids of the records touched"),
    opt(
        "operation",
        Ty::Str,
        "the operation (SQL verb, API method, tool name)",
    ),
    opt("params", Ty::Any, "the parameters of the call"),
    req("status", Ty::Enum(ACTION_STATUSES), "how it ended"),
    opt("count", Ty::UInt, "how many records"),
    opt("duration_ms", Ty::NonNegNumber, "how long it took"),
    opt("model", Ty::Str, "the model, for model calls"),
    opt("tokens", Ty::Object(TOKENS), "token usage, for model calls"),
];

const REJECTED: &[Field] = &[
    req("id", Ty::Scalar, "the option that was rejected"),
    req("reason", Ty::NonEmptyStr, "why it was rejected"),
];

const DECISION: &[Field] = &[
    req("name", Ty::NonEmptyStr, "what was decided"),
    opt("question", Ty::Str, "the question the agent answered"),
    opt("inputs", Ty::Array, "what it looked at"),
    opt("considered", Ty::Array, "the options it considered"),
    req("chosen", Ty::Array, "the options it chose"),
    opt(
        "rejected",
        Ty::ObjArray(REJECTED),
        "the options it rejected, each with the reason",
    ),
    opt("rationale", Ty::Str, "why"),
    opt("model", Ty::Str, "the model that decided, if any"),
];

const DIFF: &[Field] = &[
    opt("system", Ty::Str, "the system changed"),
    req("resource", Ty::NonEmptyStr, "the resource changed"),
    req(
        "op",
        Ty::Enum(&["create", "update", "delete"]),
        "the change",
    ),
    opt("before", Ty::Any, "the state before"),
    opt("after", Ty::Any, "the state after"),
];

const OUTCOME: &[Field] = &[
    req("status", Ty::Enum(OUTCOME_STATUSES), "how the run ended"),
    opt("summary", Ty::Str, "what it produced, in words"),
    opt("outputs", Ty::Array, "what it produced"),
    opt("effects", Ty::Array, "what it changed"),
];

const NOTE: &[Field] = &[req("text", Ty::Str, "free text")];

/// Every client kind, in documentation order.
pub const KINDS: &[KindSpec] = &[
    KindSpec {
        kind: "session.start",
        doc: "intent: what triggered the run, who initiated it, whether it was authorized",
        fields: &[
            req("trigger", Ty::Object(TRIGGER), "what started the run"),
            opt(
                "authorization",
                Ty::Object(AUTHORIZATION),
                "the authorization at run time",
            ),
            opt(
                "parent_session_id",
                Ty::NonEmptyStr,
                "the session that started this one",
            ),
        ],
    },
    KindSpec {
        kind: "authz.change",
        doc: "intent: the authorization changed during the run",
        fields: &[
            req("authorization", Ty::Object(AUTHORIZATION), "the new state"),
            opt("reason", Ty::Str, "why it changed"),
        ],
    },
    KindSpec {
        kind: "action",
        doc: "scope: one read, write, query, API, tool or model call",
        fields: &[req("action", Ty::Object(ACTION), "the access")],
    },
    KindSpec {
        kind: "decision",
        doc: "decision trace: what was considered, chosen and rejected, and why",
        fields: &[req("decision", Ty::Object(DECISION), "the decision")],
    },
    KindSpec {
        kind: "diff",
        doc: "outcome: one change, before and after",
        fields: &[req("diff", Ty::Object(DIFF), "the change")],
    },
    KindSpec {
        kind: "session.end",
        doc: "outcome: how the run ended and what it produced",
        fields: &[req("outcome", Ty::Object(OUTCOME), "the outcome")],
    },
    KindSpec {
        kind: "note",
        doc: "free text attached to the run",
        fields: &[req("note", Ty::Object(NOTE), "the note")],
    },
];

/// The spec of a client kind.
pub fn kind_spec(kind: &str) -> Option<&'static KindSpec> {
    KINDS.iter().find(|k| k.kind == kind)
}

/// Validates the body fields of `obj` (a whole client event) against `spec`.
pub(super) fn validate_body(spec: &KindSpec, obj: &Map<String, Value>) -> Result<(), EventError> {
    check_fields(spec.fields, obj, "", false)?;
    if spec.kind == "action" {
        // `resource` is required for every access but a model call (a model is not a resource).
        let action = &obj["action"];
        if action["type"] != "model_call" && action.get("resource").is_none() {
            return Err(missing("action.resource"));
        }
    }
    Ok(())
}

fn check_fields(
    fields: &[Field],
    obj: &Map<String, Value>,
    prefix: &str,
    strict_unknown: bool,
) -> Result<(), EventError> {
    let path = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    if strict_unknown {
        for key in obj.keys() {
            if !fields.iter().any(|f| f.name == key) {
                return Err(EventError::new(
                    ErrorCode::UnknownField,
                    path(key),
                    format!(
                        "not a field of this object; expected one of: {}",
                        fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    for f in fields {
        match obj.get(f.name) {
            None if f.required => return Err(missing(&path(f.name))),
            None => {}
            Some(v) => check_type(f.ty, v, &path(f.name))?,
        }
    }
    Ok(())
}

fn check_type(ty: Ty, v: &Value, path: &str) -> Result<(), EventError> {
    match ty {
        Ty::Any => Ok(()),
        Ty::Str => v
            .is_string()
            .then_some(())
            .ok_or_else(|| invalid(path, "must be a string")),
        Ty::NonEmptyStr => match v.as_str() {
            Some("") => Err(invalid(path, "must not be empty")),
            Some(_) => Ok(()),
            None => Err(invalid(path, "must be a string")),
        },
        Ty::Enum(values) => match v.as_str() {
            Some(s) if values.contains(&s) => Ok(()),
            _ => Err(invalid(
                path,
                format!("must be one of: {}", values.join(", ")),
            )),
        },
        Ty::StrArray => match v.as_array() {
            Some(items) => match items.iter().position(|i| !i.is_string()) {
                None => Ok(()),
                Some(i) => Err(invalid(&format!("{path}[{i}]"), "must be a string")),
            },
            None => Err(invalid(path, "must be an array of strings")),
        },
        Ty::Array => v
            .is_array()
            .then_some(())
            .ok_or_else(|| invalid(path, "must be an array")),
        Ty::Scalar => (v.is_string() || v.is_number())
            .then_some(())
            .ok_or_else(|| invalid(path, "must be a string or a number")),
        Ty::UInt => match v.as_f64() {
            Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(()),
            _ => Err(invalid(path, "must be a non-negative integer")),
        },
        Ty::NonNegNumber => match v.as_f64() {
            Some(n) if n >= 0.0 => Ok(()),
            _ => Err(invalid(path, "must be a non-negative number")),
        },
        Ty::Object(fields) => match v.as_object() {
            Some(obj) => check_fields(fields, obj, path, true),
            None => Err(invalid(path, "must be an object")),
        },
        Ty::ObjArray(fields) => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    match item.as_object() {
                        Some(obj) => check_fields(fields, obj, &p, true)?,
                        None => return Err(invalid(&p, "must be an object")),
                    }
                }
                Ok(())
            }
            None => Err(invalid(path, "must be an array of objects")),
        },
    }
}

/// The JSON Schema (draft 2020-12) of a v1 client event, rendered from the tables above.
pub fn json_schema() -> Value {
    let id_string = json!({"type": "string", "minLength": 1, "maxLength": 256});
    let envelope = json!({
        "event_id": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$",
                     "description": "idempotency key; derived from the content when absent"},
        "session_id": {"type": "string", "minLength": 1, "maxLength": 256,
                       "not": {"const": "agentrail"},
                       "description": "\"agentrail\" is reserved for agentrail's own records"},
        "agent_id": id_string,
        "kind": {"type": "string"},
        "ts": {"type": "string", "format": "date-time",
               "description": "RFC 3339 with an offset; stored normalized to UTC"},
        "principal": id_string,
        "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "span_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "parent_span_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "attributes": {"type": "object"},
    });
    let variants: Vec<Value> = KINDS
        .iter()
        .map(|k| {
            let mut props = envelope.as_object().cloned().unwrap_or_default();
            props.insert("kind".into(), json!({"const": k.kind}));
            let mut required = vec![
                json!("session_id"),
                json!("agent_id"),
                json!("kind"),
                json!("ts"),
            ];
            for f in k.fields {
                props.insert(f.name.into(), type_schema(f));
                if f.required {
                    required.push(json!(f.name));
                }
            }
            let mut variant = json!({
                "description": k.doc,
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": false,
            });
            if k.kind == "action" {
                variant["properties"]["action"]["if"] =
                    json!({"properties": {"type": {"not": {"const": "model_call"}}}});
                variant["properties"]["action"]["then"] = json!({"required": ["resource"]});
            }
            variant
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "agentrail.event/v1",
        "title": "agentrail client event, v1",
        "description": "One event as a client sends it. Integers must lie within ±(2^53−1); duplicate keys are rejected.",
        "oneOf": variants,
    })
}

fn type_schema(f: &Field) -> Value {
    let mut s = match f.ty {
        Ty::Str => json!({"type": "string"}),
        Ty::NonEmptyStr => json!({"type": "string", "minLength": 1}),
        Ty::Enum(values) => json!({"enum": values}),
        Ty::StrArray => json!({"type": "array", "items": {"type": "string"}}),
        Ty::Array => json!({"type": "array"}),
        Ty::Scalar => json!({"type": ["string", "number"]}),
        Ty::Any => json!({}),
        Ty::UInt => json!({"type": "integer", "minimum": 0}),
        Ty::NonNegNumber => json!({"type": "number", "minimum": 0}),
        Ty::Object(fields) => object_schema(fields),
        Ty::ObjArray(fields) => json!({"type": "array", "items": object_schema(fields)}),
    };
    s["description"] = f.doc.into();
    s
}

fn object_schema(fields: &[Field]) -> Value {
    let props: Map<String, Value> = fields
        .iter()
        .map(|f| (f.name.to_string(), type_schema(f)))
        .collect();
    let required: Vec<&str> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}
