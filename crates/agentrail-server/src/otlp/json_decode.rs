//! OTLP/JSON → prost types: the proto3 JSON mapping with OTLP's deviations, written out for the
//! messages of a trace export. Every error names the field's path, as in
//! `resourceSpans[0].scopeSpans[0].spans[2].traceId`.

use super::OtlpError;
use agentrail_core::hash::{b64_decode, from_hex};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::{Map, Value};
use std::fmt;

type Obj = Map<String, Value>;
type R<T> = Result<T, OtlpError>;

/// Where in the document a value is, built without allocating until an error is reported.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'static str),
    Index(&'a Path<'a>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, k) => write!(f, "{k}"),
            Path::Field(p, k) => write!(f, "{p}.{k}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

fn err(p: &Path<'_>, what: &str) -> OtlpError {
    match p {
        Path::Root => OtlpError::Decode(what.to_string()),
        p => OtlpError::Decode(format!("{p}: {what}")),
    }
}

pub(super) fn request(bytes: &[u8]) -> R<ExportTraceServiceRequest> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| OtlpError::Decode(format!("not JSON: {e}")))?;
    let o = object(&doc, &Path::Root)?;
    Ok(ExportTraceServiceRequest {
        resource_spans: list(o, "resourceSpans", &Path::Root, resource_spans)?,
    })
}

fn resource_spans(v: &Value, p: &Path<'_>) -> R<ResourceSpans> {
    let o = object(v, p)?;
    Ok(ResourceSpans {
        resource: message(o, "resource", p, resource)?,
        scope_spans: list(o, "scopeSpans", p, scope_spans)?,
        schema_url: string(o, "schemaUrl", p)?,
    })
}

fn resource(o: &Obj, p: &Path<'_>) -> R<Resource> {
    Ok(Resource {
        attributes: list(o, "attributes", p, key_value)?,
        dropped_attributes_count: uint32(o, "droppedAttributesCount", p)?,
        entity_refs: list(o, "entityRefs", p, entity_ref)?,
    })
}

fn entity_ref(v: &Value, p: &Path<'_>) -> R<EntityRef> {
    let o = object(v, p)?;
    Ok(EntityRef {
        schema_url: string(o, "schemaUrl", p)?,
        r#type: string(o, "type", p)?,
        id_keys: list(o, "idKeys", p, str_value)?,
        description_keys: list(o, "descriptionKeys", p, str_value)?,
    })
}

fn scope_spans(v: &Value, p: &Path<'_>) -> R<ScopeSpans> {
    let o = object(v, p)?;
    Ok(ScopeSpans {
        scope: message(o, "scope", p, scope)?,
        spans: list(o, "spans", p, span)?,
        schema_url: string(o, "schemaUrl", p)?,
    })
}

fn scope(o: &Obj, p: &Path<'_>) -> R<InstrumentationScope> {
    Ok(InstrumentationScope {
        name: string(o, "name", p)?,
        version: string(o, "version", p)?,
        attributes: list(o, "attributes", p, key_value)?,
        dropped_attributes_count: uint32(o, "droppedAttributesCount", p)?,
    })
}

fn span(v: &Value, p: &Path<'_>) -> R<Span> {
    let o = object(v, p)?;
    Ok(Span {
        trace_id: hex(o, "traceId", p)?,
        span_id: hex(o, "spanId", p)?,
        trace_state: string(o, "traceState", p)?,
        parent_span_id: hex(o, "parentSpanId", p)?,
        flags: uint32(o, "flags", p)?,
        name: string(o, "name", p)?,
        kind: enumeration(o, "kind", p, |s| {
            SpanKind::from_str_name(s).map(|k| k as i32)
        })?,
        start_time_unix_nano: uint64(o, "startTimeUnixNano", p)?,
        end_time_unix_nano: uint64(o, "endTimeUnixNano", p)?,
        attributes: list(o, "attributes", p, key_value)?,
        dropped_attributes_count: uint32(o, "droppedAttributesCount", p)?,
        events: list(o, "events", p, event)?,
        dropped_events_count: uint32(o, "droppedEventsCount", p)?,
        links: list(o, "links", p, link)?,
        dropped_links_count: uint32(o, "droppedLinksCount", p)?,
        status: message(o, "status", p, status)?,
    })
}

fn event(v: &Value, p: &Path<'_>) -> R<Event> {
    let o = object(v, p)?;
    Ok(Event {
        time_unix_nano: uint64(o, "timeUnixNano", p)?,
        name: string(o, "name", p)?,
        attributes: list(o, "attributes", p, key_value)?,
        dropped_attributes_count: uint32(o, "droppedAttributesCount", p)?,
    })
}

fn link(v: &Value, p: &Path<'_>) -> R<Link> {
    let o = object(v, p)?;
    Ok(Link {
        trace_id: hex(o, "traceId", p)?,
        span_id: hex(o, "spanId", p)?,
        trace_state: string(o, "traceState", p)?,
        attributes: list(o, "attributes", p, key_value)?,
        dropped_attributes_count: uint32(o, "droppedAttributesCount", p)?,
        flags: uint32(o, "flags", p)?,
    })
}

fn status(o: &Obj, p: &Path<'_>) -> R<Status> {
    Ok(Status {
        message: string(o, "message", p)?,
        code: enumeration(o, "code", p, |s| {
            StatusCode::from_str_name(s).map(|c| c as i32)
        })?,
    })
}

fn key_value(v: &Value, p: &Path<'_>) -> R<KeyValue> {
    let o = object(v, p)?;
    Ok(KeyValue {
        key: string(o, "key", p)?,
        value: match field(o, "value") {
            None => None,
            Some(v) => Some(any_value(v, &Path::Field(p, "value"))?),
        },
        key_strindex: 0,
    })
}

/// An `AnyValue`: at most one of its fields; none (`{}`) is the empty value.
fn any_value(v: &Value, p: &Path<'_>) -> R<AnyValue> {
    use any_value::Value as V;
    let o = object(v, p)?;
    let mut value = None;
    for key in [
        "stringValue",
        "boolValue",
        "intValue",
        "doubleValue",
        "arrayValue",
        "kvlistValue",
        "bytesValue",
    ] {
        let Some(x) = field(o, key) else { continue };
        if value.is_some() {
            return Err(err(p, "an AnyValue may set only one of its fields"));
        }
        let fp = Path::Field(p, key);
        value = Some(match key {
            "stringValue" => V::StringValue(str_value(x, &fp)?),
            "boolValue" => V::BoolValue(
                x.as_bool()
                    .ok_or_else(|| err(&fp, "expected true or false"))?,
            ),
            "intValue" => V::IntValue(int64(x, &fp)?),
            "doubleValue" => V::DoubleValue(double(x, &fp)?),
            "arrayValue" => V::ArrayValue(ArrayValue {
                values: list(object(x, &fp)?, "values", &fp, any_value)?,
            }),
            "kvlistValue" => V::KvlistValue(KeyValueList {
                values: list(object(x, &fp)?, "values", &fp, key_value)?,
            }),
            _ => V::BytesValue(base64(x, &fp)?),
        });
    }
    Ok(AnyValue { value })
}

/// A member; `null` counts as absent (the field's default), as the proto3 JSON mapping says.
fn field<'v>(o: &'v Obj, key: &str) -> Option<&'v Value> {
    o.get(key).filter(|v| !v.is_null())
}

fn object<'v>(v: &'v Value, p: &Path<'_>) -> R<&'v Obj> {
    v.as_object()
        .ok_or_else(|| err(p, "expected a JSON object"))
}

fn message<T>(
    o: &Obj,
    key: &'static str,
    p: &Path<'_>,
    f: impl Fn(&Obj, &Path<'_>) -> R<T>,
) -> R<Option<T>> {
    let Some(v) = field(o, key) else {
        return Ok(None);
    };
    let fp = Path::Field(p, key);
    f(object(v, &fp)?, &fp).map(Some)
}

fn list<T>(
    o: &Obj,
    key: &'static str,
    p: &Path<'_>,
    f: impl Fn(&Value, &Path<'_>) -> R<T>,
) -> R<Vec<T>> {
    let Some(v) = field(o, key) else {
        return Ok(Vec::new());
    };
    let fp = Path::Field(p, key);
    let items = v.as_array().ok_or_else(|| err(&fp, "expected an array"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, x)| f(x, &Path::Index(&fp, i)))
        .collect()
}

fn str_value(v: &Value, p: &Path<'_>) -> R<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| err(p, "expected a string"))
}

fn string(o: &Obj, key: &'static str, p: &Path<'_>) -> R<String> {
    match field(o, key) {
        None => Ok(String::new()),
        Some(v) => str_value(v, &Path::Field(p, key)),
    }
}

/// A trace or span id: hex digits in either case (OTLP's deviation from base64).
fn hex(o: &Obj, key: &'static str, p: &Path<'_>) -> R<Vec<u8>> {
    let fp = Path::Field(p, key);
    match field(o, key) {
        None => Ok(Vec::new()),
        Some(v) => {
            from_hex(&str_value(v, &fp)?).ok_or_else(|| err(&fp, "expected a string of hex digits"))
        }
    }
}

/// Proto3 JSON accepts standard and URL-safe base64, with or without padding.
fn base64(v: &Value, p: &Path<'_>) -> R<Vec<u8>> {
    let s = str_value(v, p)?;
    let mut std: String = s
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !std.len().is_multiple_of(4) {
        std.push('=');
    }
    b64_decode(&std).ok_or_else(|| err(p, "expected base64"))
}

/// An integer as a JSON number or a decimal string (proto3 JSON accepts both for every
/// integer type).
fn integer<T>(v: &Value, p: &Path<'_>, what: &str) -> R<T>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
{
    let parsed = match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => T::try_from(u).ok(),
            (None, Some(i)) => T::try_from(i).ok(),
            _ => None,
        },
        Value::String(s) => s.parse::<T>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| err(p, what))
}

fn uint32(o: &Obj, key: &'static str, p: &Path<'_>) -> R<u32> {
    match field(o, key) {
        None => Ok(0),
        Some(v) => integer(
            v,
            &Path::Field(p, key),
            "expected an unsigned 32-bit integer",
        ),
    }
}

fn uint64(o: &Obj, key: &'static str, p: &Path<'_>) -> R<u64> {
    match field(o, key) {
        None => Ok(0),
        Some(v) => integer(
            v,
            &Path::Field(p, key),
            "expected an unsigned 64-bit integer",
        ),
    }
}

fn int64(v: &Value, p: &Path<'_>) -> R<i64> {
    integer(v, p, "expected a signed 64-bit integer")
}

/// An enum: OTLP sends the integer; the name (`SPAN_KIND_SERVER`) is accepted too.
fn enumeration(
    o: &Obj,
    key: &'static str,
    p: &Path<'_>,
    by_name: impl Fn(&str) -> Option<i32>,
) -> R<i32> {
    let fp = Path::Field(p, key);
    match field(o, key) {
        None => Ok(0),
        Some(Value::String(s)) if by_name(s).is_some() => Ok(by_name(s).unwrap_or_default()),
        Some(v) => integer(v, &fp, "expected an enum value (an integer)"),
    }
}

/// A double: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` or a number in a string.
fn double(v: &Value, p: &Path<'_>) -> R<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            s => s.parse::<f64>().ok().filter(|d| d.is_finite()),
        },
        _ => None,
    }
    .ok_or_else(|| {
        err(
            p,
            "expected a number, \"NaN\", \"Infinity\" or \"-Infinity\"",
        )
    })
}
