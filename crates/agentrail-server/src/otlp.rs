//! OTLP trace ingest: decodes an `ExportTraceServiceRequest` (binary protobuf or OTLP/JSON) and
//! maps every span, on its own, to v1 client events. `docs/otlp.md` is the specification of the
//! mapping; `otlp/tests.rs` checks each of its rules.
//!
//! It owns the OTLP/JSON decoder ([`decode_json`]). opentelemetry-proto's serde support is not
//! used for it because it refuses valid OTLP/JSON: `{"arrayValue":{}}` and `{"kvlistValue":{}}`
//! (empty lists, as protobuf JSON writers emit them), `"doubleValue":"NaN"`, `null` for a
//! repeated field, URL-safe or unpadded base64, 32-bit integers sent as strings, a `KeyValue`
//! without `key`. A test keeps that list honest.
//!
//! It must never look at one span to map another: exporters send a span when it ends, children
//! before parents, often in separate requests, and a stored event never changes. It never reads a
//! clock or draws randomness, so the same span always maps to the same events and a retried
//! export is a duplicate, not a conflict. And it never drops what the agent sent: whatever has no
//! place in the v1 body is kept in the event's `attributes`.

use agentrail_core::event::schema::{self, Field, Ty};
use agentrail_core::event::validate_client_event;
use agentrail_core::hash::{b64, to_hex};
use agentrail_core::{json, timefmt};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::{Map, Number, Value};

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// Why an OTLP request body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// The body is not an `ExportTraceServiceRequest` in the encoding its content type names.
    #[error("invalid OTLP trace request: {0}; send an ExportTraceServiceRequest as binary protobuf (application/x-protobuf) or OTLP/JSON (application/json)")]
    Decode(String),
}

/// Decodes a binary protobuf `ExportTraceServiceRequest`.
pub fn decode_protobuf(bytes: &[u8]) -> Result<ExportTraceServiceRequest, OtlpError> {
    ExportTraceServiceRequest::decode(bytes).map_err(|e| OtlpError::Decode(e.to_string()))
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`: the proto3 JSON mapping with the OTLP
/// deviations (hex trace and span ids in either case, integer enums). Unknown fields are ignored,
/// as OTLP requires; 64-bit integers may be numbers or decimal strings.
pub fn decode_json(bytes: &[u8]) -> Result<ExportTraceServiceRequest, OtlpError> {
    json_decode::request(bytes)
}

/// One span's events (v1 client events as JSON objects, in order), or why the span cannot be mapped.
#[derive(Debug)]
pub struct MappedSpan {
    pub trace_id: String,
    pub span_id: String,
    pub events: Vec<Value>,
}

/// A span that yields no events, and why. Its ids are lowercase hex of the bytes as sent (possibly
/// empty or of the wrong length).
#[derive(Debug)]
pub struct UnmappableSpan {
    pub trace_id: String,
    pub span_id: String,
    pub reason: String,
}

/// Maps every span of the request independently of every other span (exporters send a span when it
/// ends, children before parents, often in different requests, and a stored event can never change
/// afterwards).
pub fn map_request(req: &ExportTraceServiceRequest) -> (Vec<MappedSpan>, Vec<UnmappableSpan>) {
    let mut mapped = Vec::new();
    let mut unmappable = Vec::new();
    for rs in &req.resource_spans {
        let (resource_ctx, service) = resource_context(rs);
        for ss in &rs.scope_spans {
            let mut base = resource_ctx.clone();
            scope_context(ss, &mut base);
            for span in &ss.spans {
                match map_span(&base, service.as_deref(), span) {
                    Ok(m) => mapped.push(m),
                    Err(u) => unmappable.push(u),
                }
            }
        }
    }
    (mapped, unmappable)
}

/// The placeholder stored where OTLP lacks a field v1 requires; the field's path is then listed in
/// `attributes."agentrail.missing"`.
pub const PLACEHOLDER: &str = "unknown";
/// Event attribute listing the body fields that hold [`PLACEHOLDER`].
pub const MISSING_KEY: &str = "agentrail.missing";
/// Event attribute holding span attributes whose keys collide with a key agentrail derives.
pub const SHADOWED_KEY: &str = "agentrail.shadowed";

/// Container levels an OTLP value may fill in an event. The deepest place a value lands is
/// `attributes."otel.span.links"[i].attributes.<key>` (level 6, the event being level 1), and an
/// event may nest [`json::MAX_DEPTH`] levels; deeper values are stored as their JSON text.
const VALUE_LEVELS: usize = json::MAX_DEPTH - 5;
const MAX_SAFE_INT: i64 = (1 << 53) - 1;

/// What a span is, by `gen_ai.operation.name` or, failing that, `openinference.span.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpanClass {
    Agent,
    Tool,
    Model,
    Retrieval,
    Other,
}

fn classify(attrs: &Map<String, Value>) -> SpanClass {
    let by_op = match attrs.get("gen_ai.operation.name").and_then(Value::as_str) {
        Some("invoke_agent") => Some(SpanClass::Agent),
        Some("execute_tool") => Some(SpanClass::Tool),
        Some("chat" | "text_completion" | "generate_content" | "embeddings") => {
            Some(SpanClass::Model)
        }
        Some("retrieval") => Some(SpanClass::Retrieval),
        _ => None,
    };
    let by_kind = || match attrs.get("openinference.span.kind").and_then(Value::as_str) {
        Some("AGENT") => SpanClass::Agent,
        Some("TOOL") => SpanClass::Tool,
        Some("LLM" | "EMBEDDING") => SpanClass::Model,
        Some("RETRIEVER") => SpanClass::Retrieval,
        _ => SpanClass::Other,
    };
    by_op.unwrap_or_else(by_kind)
}

/// `resource.<key>` for every resource attribute, and the resource's other fields; plus
/// `service.name` for agent ids and action systems.
fn resource_context(rs: &ResourceSpans) -> (Map<String, Value>, Option<String>) {
    let mut ctx = Map::new();
    let mut service = None;
    if let Some(resource) = &rs.resource {
        let attrs = kv_map(&resource.attributes, VALUE_LEVELS);
        service = text(&attrs, "service.name");
        for (k, v) in attrs {
            ctx.insert(format!("resource.{k}"), v);
        }
        put_count(
            &mut ctx,
            "otel.resource.dropped_attributes_count",
            resource.dropped_attributes_count,
        );
        if !resource.entity_refs.is_empty() {
            let refs = resource.entity_refs.iter().map(|r| {
                serde_json::json!({
                    "schema_url": r.schema_url,
                    "type": r.r#type,
                    "id_keys": r.id_keys,
                    "description_keys": r.description_keys,
                })
            });
            ctx.insert(
                "otel.resource.entity_refs".into(),
                Value::Array(refs.collect()),
            );
        }
    }
    put_str(&mut ctx, "otel.resource.schema_url", &rs.schema_url);
    (ctx, service)
}

fn scope_context(ss: &ScopeSpans, ctx: &mut Map<String, Value>) {
    if let Some(scope) = &ss.scope {
        put_str(ctx, "otel.scope.name", &scope.name);
        put_str(ctx, "otel.scope.version", &scope.version);
        if !scope.attributes.is_empty() {
            let attrs = kv_map(&scope.attributes, VALUE_LEVELS);
            ctx.insert("otel.scope.attributes".into(), Value::Object(attrs));
        }
        put_count(
            ctx,
            "otel.scope.dropped_attributes_count",
            scope.dropped_attributes_count,
        );
    }
    put_str(ctx, "otel.scope.schema_url", &ss.schema_url);
}

/// Everything needed to build the events of one span.
struct SpanMapper<'a> {
    span: &'a Span,
    trace_id: String,
    span_id: String,
    /// The span's attributes, converted; the last of duplicate keys wins.
    attrs: Map<String, Value>,
    /// Envelope fields shared by every event of the span (no `event_id`, `kind`, `ts`).
    envelope: Map<String, Value>,
    /// Attributes agentrail derives for every event of the span.
    context: Map<String, Value>,
    start_ts: String,
    end_ts: String,
}

fn map_span(
    base: &Map<String, Value>,
    service: Option<&str>,
    span: &Span,
) -> Result<MappedSpan, UnmappableSpan> {
    let trace_id = to_hex(&span.trace_id);
    let span_id = to_hex(&span.span_id);
    let fail = |reason: String| UnmappableSpan {
        trace_id: trace_id.clone(),
        span_id: span_id.clone(),
        reason,
    };
    check_id("trace_id", &span.trace_id, 16).map_err(&fail)?;
    check_id("span_id", &span.span_id, 8).map_err(&fail)?;
    let parent = match span.parent_span_id.len() {
        0 => None,
        8 if span.parent_span_id.iter().all(|b| *b == 0) => None,
        8 => Some(to_hex(&span.parent_span_id)),
        n => {
            return Err(fail(format!(
                "parent_span_id has {n} bytes; it must be empty or 8 bytes"
            )))
        }
    };
    let (start, end) = match (span.start_time_unix_nano, span.end_time_unix_nano) {
        (0, 0) => {
            return Err(fail(
                "the span has neither start_time_unix_nano nor end_time_unix_nano".into(),
            ))
        }
        (0, e) => (e, e),
        (s, 0) => (s, s),
        (s, e) => (s, e),
    };
    let start_ts = format_nanos(start).map_err(&fail)?;
    let end_ts = format_nanos(end).map_err(&fail)?;

    let attrs = kv_map(&span.attributes, VALUE_LEVELS);
    let mut envelope = Map::new();
    let session = match attrs.get("agentrail.session.id") {
        Some(v) => id_value(v),
        None => Value::String(trace_id.clone()),
    };
    envelope.insert("session_id".into(), session);
    let agent = first_text(
        &attrs,
        &["gen_ai.agent.id", "gen_ai.agent.name", "agent.name"],
    )
    .unwrap_or_else(|| format!("service:{}", service.unwrap_or("unknown_service")));
    envelope.insert("agent_id".into(), agent.into());
    if let Some(p) = attrs.get("agentrail.principal") {
        envelope.insert("principal".into(), id_value(p));
    }
    envelope.insert("trace_id".into(), trace_id.clone().into());
    envelope.insert("span_id".into(), span_id.clone().into());
    if let Some(p) = parent {
        envelope.insert("parent_span_id".into(), p.into());
    }

    let context = span_context(base, span, &attrs);
    let mapper = SpanMapper {
        span,
        trace_id: trace_id.clone(),
        span_id: span_id.clone(),
        attrs,
        envelope,
        context,
        start_ts,
        end_ts,
    };
    let events = mapper.events().map_err(fail)?;
    Ok(MappedSpan {
        trace_id,
        span_id,
        events,
    })
}

/// Attributes derived from the span itself, on top of the resource and scope ones.
fn span_context(
    base: &Map<String, Value>,
    span: &Span,
    attrs: &Map<String, Value>,
) -> Map<String, Value> {
    let mut ctx = base.clone();
    ctx.insert("otel.span.name".into(), span.name.clone().into());
    let kind = match SpanKind::try_from(span.kind) {
        Ok(k) => k.as_str_name().into(),
        Err(_) => span.kind.into(),
    };
    ctx.insert("otel.span.kind".into(), kind);
    let status = span.status.clone().unwrap_or_default();
    let code = match StatusCode::try_from(status.code) {
        Ok(StatusCode::Unset) => "UNSET".into(),
        Ok(StatusCode::Ok) => "OK".into(),
        Ok(StatusCode::Error) => "ERROR".into(),
        Err(_) => status.code.into(),
    };
    ctx.insert("otel.status_code".into(), code);
    put_str(&mut ctx, "otel.status_description", &status.message);
    ctx.insert(
        "otel.span.start_time_unix_nano".into(),
        span.start_time_unix_nano.to_string().into(),
    );
    ctx.insert(
        "otel.span.end_time_unix_nano".into(),
        span.end_time_unix_nano.to_string().into(),
    );
    put_str(&mut ctx, "otel.span.trace_state", &span.trace_state);
    put_count(&mut ctx, "otel.span.flags", span.flags);
    put_count(
        &mut ctx,
        "otel.span.dropped_attributes_count",
        span.dropped_attributes_count,
    );
    put_count(
        &mut ctx,
        "otel.span.dropped_events_count",
        span.dropped_events_count,
    );
    put_count(
        &mut ctx,
        "otel.span.dropped_links_count",
        span.dropped_links_count,
    );
    if !span.links.is_empty() {
        let links = span.links.iter().map(link_json).collect();
        ctx.insert("otel.span.links".into(), Value::Array(links));
    }
    let other_events: Vec<Value> = span
        .events
        .iter()
        .enumerate()
        .filter(|(_, ev)| event_kind(&ev.name).is_none())
        .map(|(i, ev)| {
            let mut o = Map::new();
            o.insert("index".into(), i.into());
            o.insert("name".into(), ev.name.clone().into());
            o.insert(
                "time_unix_nano".into(),
                ev.time_unix_nano.to_string().into(),
            );
            o.insert(
                "attributes".into(),
                Value::Object(kv_map(&ev.attributes, VALUE_LEVELS)),
            );
            put_count(
                &mut o,
                "dropped_attributes_count",
                ev.dropped_attributes_count,
            );
            Value::Object(o)
        })
        .collect();
    if !other_events.is_empty() {
        ctx.insert("otel.span.events".into(), Value::Array(other_events));
    }
    if let Some(c) = first_text(attrs, &["gen_ai.conversation.id", "session.id"]) {
        ctx.insert("agentrail.conversation.id".into(), c.into());
    }
    ctx
}

fn link_json(link: &Link) -> Value {
    let mut o = Map::new();
    o.insert("trace_id".into(), to_hex(&link.trace_id).into());
    o.insert("span_id".into(), to_hex(&link.span_id).into());
    put_str(&mut o, "trace_state", &link.trace_state);
    o.insert(
        "attributes".into(),
        Value::Object(kv_map(&link.attributes, VALUE_LEVELS)),
    );
    put_count(
        &mut o,
        "dropped_attributes_count",
        link.dropped_attributes_count,
    );
    put_count(&mut o, "flags", link.flags);
    Value::Object(o)
}

/// The v1 kind of a span event agentrail maps, and the attribute prefix of its body fields.
fn event_kind(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "agentrail.decision" => Some(("decision", "agentrail.decision.")),
        "agentrail.diff" => Some(("diff", "agentrail.diff.")),
        "agentrail.authz" => Some(("authz.change", "agentrail.authz.")),
        _ => None,
    }
}

impl SpanMapper<'_> {
    fn events(&self) -> Result<Vec<Value>, String> {
        let mut head = Vec::new();
        let mut tail = Vec::new();
        let mut fallback = Map::new();
        match self.explicit_event() {
            Some(Ok(ev)) if ev["kind"] == "session.end" => tail.push(ev),
            Some(Ok(ev)) => head.push(ev),
            Some(Err(reason)) => {
                fallback.insert("agentrail.event.error".into(), reason.into());
            }
            None => {}
        }
        if head.is_empty() && tail.is_empty() {
            match classify(&self.attrs) {
                SpanClass::Agent => {
                    head.push(self.session_start(fallback.clone()));
                    tail.push(self.session_end(fallback));
                }
                class => head.push(self.action(class, fallback)),
            }
        }
        for (i, ev) in self.span.events.iter().enumerate() {
            if let Some((kind, prefix)) = event_kind(&ev.name) {
                head.push(self.span_event(i, ev, kind, prefix)?);
            }
        }
        head.append(&mut tail);
        Ok(head)
    }

    /// One v1 event: the span's envelope, `event_id` `otlp:<trace>:<span>:<role>`, the body, and
    /// the attributes (derived keys first; a span attribute with the same key is shadowed).
    fn event(
        &self,
        role: &str,
        kind: &str,
        ts: &str,
        body: Map<String, Value>,
        mut derived: Map<String, Value>,
        mut missing: Vec<&str>,
    ) -> Value {
        let mut ev = self.envelope.clone();
        ev.insert(
            "event_id".into(),
            format!("otlp:{}:{}:{role}", self.trace_id, self.span_id).into(),
        );
        ev.insert("kind".into(), kind.into());
        ev.insert("ts".into(), ts.into());
        ev.extend(body);
        let mut attributes = self.context.clone();
        attributes.append(&mut derived);
        if !missing.is_empty() {
            missing.sort_unstable();
            missing.dedup();
            attributes.insert(MISSING_KEY.into(), missing.into());
        }
        let mut shadowed = Map::new();
        for (k, v) in &self.attrs {
            if attributes.contains_key(k) || k == SHADOWED_KEY {
                shadowed.insert(k.clone(), v.clone());
            } else {
                attributes.insert(k.clone(), v.clone());
            }
        }
        if !shadowed.is_empty() {
            attributes.insert(SHADOWED_KEY.into(), Value::Object(shadowed));
        }
        ev.insert("attributes".into(), Value::Object(attributes));
        Value::Object(ev)
    }

    /// The event the span attribute `agentrail.event` spells out, when there is one: `Ok` when it
    /// is a valid v1 event, `Err` with the reason otherwise.
    fn explicit_event(&self) -> Option<Result<Value, String>> {
        let raw = self.attrs.get("agentrail.event")?;
        Some(self.explicit_event_from(raw))
    }

    fn explicit_event_from(&self, raw: &Value) -> Result<Value, String> {
        let parsed = match raw {
            Value::String(s) => json::parse_strict(s.as_bytes()).map_err(|e| e.to_string())?,
            other => other.clone(),
        };
        let Value::Object(mut body) = parsed else {
            return Err("must be a JSON object".into());
        };
        let kind = match body.remove("kind") {
            Some(Value::String(k)) => k,
            Some(_) => return Err("'kind' must be a string".into()),
            None => return Err("'kind' is required".into()),
        };
        let Some(spec) = schema::kind_spec(&kind) else {
            return Err(format!("'{kind}' is not a v1 client kind"));
        };
        if let Some(k) = body
            .keys()
            .find(|k| !spec.fields.iter().any(|f| f.name == k.as_str()))
        {
            return Err(format!(
                "'{k}' is not a body field of kind '{kind}'; agentrail.event holds only 'kind' and that kind's body fields"
            ));
        }
        let (role, ts) = match kind.as_str() {
            "session.start" => ("start", &self.start_ts),
            "session.end" => ("end", &self.end_ts),
            _ => ("action", &self.start_ts),
        };
        let ev = self.event(role, &kind, ts, body, Map::new(), Vec::new());
        validate_client_event(ev.clone()).map_err(|e| e.to_string())?;
        Ok(ev)
    }

    fn session_start(&self, derived: Map<String, Value>) -> Value {
        let a = &self.attrs;
        let mut missing = Vec::new();
        let initiator = first_text(a, &["user.id", "enduser.id"]);
        let declared = a
            .get("agentrail.trigger.type")
            .and_then(Value::as_str)
            .filter(|t| schema::TRIGGER_TYPES.contains(t));
        let trigger_type = match (declared, &initiator) {
            (Some(t), _) => t,
            (None, Some(_)) => "user",
            (None, None) => "system",
        };
        let mut trigger = Map::new();
        trigger.insert("type".into(), trigger_type.into());
        let initiator = initiator.unwrap_or_else(|| {
            missing.push("trigger.initiator");
            PLACEHOLDER.into()
        });
        trigger.insert("initiator".into(), initiator.into());
        if let Some(v) = a.get("agentrail.request.id") {
            trigger.insert("request_id".into(), id_value(v));
        }
        copy_raw(a, "agentrail.trigger.request", &mut trigger, "request");
        copy_raw(a, "agentrail.trigger.schedule", &mut trigger, "schedule");
        let mut body = Map::new();
        body.insert("trigger".into(), Value::Object(trigger));
        let authorization = fields_from(
            a,
            "agentrail.authz.",
            object_fields("session.start", "authorization"),
        );
        if !authorization.is_empty() {
            body.insert("authorization".into(), Value::Object(authorization));
        }
        if let Some(v) = a.get("agentrail.parent_session.id") {
            body.insert("parent_session_id".into(), id_value(v));
        }
        self.event(
            "start",
            "session.start",
            &self.start_ts,
            body,
            derived,
            missing,
        )
    }

    fn session_end(&self, derived: Map<String, Value>) -> Value {
        let a = &self.attrs;
        let status = self.span.status.clone().unwrap_or_default();
        let mut outcome = Map::new();
        let derived_status = if status.code == StatusCode::Error as i32 {
            "failed"
        } else {
            "succeeded"
        };
        let s = a.get("agentrail.outcome.status").cloned();
        outcome.insert("status".into(), s.unwrap_or_else(|| derived_status.into()));
        match a.get("agentrail.outcome.summary") {
            Some(v) => {
                outcome.insert("summary".into(), v.clone());
            }
            None if !status.message.is_empty() => {
                outcome.insert("summary".into(), status.message.into());
            }
            None => {}
        }
        let mut body = Map::new();
        body.insert("outcome".into(), Value::Object(outcome));
        self.event(
            "end",
            "session.end",
            &self.end_ts,
            body,
            derived,
            Vec::new(),
        )
    }

    fn action(&self, class: SpanClass, derived: Map<String, Value>) -> Value {
        let a = &self.attrs;
        let mut missing = Vec::new();
        let op_name = text(a, "gen_ai.operation.name");
        let provider = || {
            first_text(
                a,
                &[
                    "gen_ai.provider.name",
                    "gen_ai.system",
                    "llm.provider",
                    "llm.system",
                ],
            )
        };
        let span_name = Some(self.span.name.clone()).filter(|n| !n.is_empty());
        let (action_type, system, resource, operation) = match class {
            SpanClass::Tool => {
                let tool = first_text(a, &["gen_ai.tool.name", "tool.name"]);
                let resource =
                    first_text(a, &["agentrail.resource", "gen_ai.tool.call.id"]).or(span_name);
                ("tool_call", tool.clone(), resource, tool)
            }
            SpanClass::Model => {
                let resource = text(a, "agentrail.resource");
                ("model_call", provider(), resource, op_name)
            }
            SpanClass::Retrieval => {
                let system = text(a, "gen_ai.data_source.id").or_else(provider);
                let resource = text(a, "agentrail.resource").or(span_name);
                ("query", system, resource, op_name)
            }
            SpanClass::Other | SpanClass::Agent => {
                let resource = text(a, "agentrail.resource").or(span_name);
                ("state_change", None, resource, None)
            }
        };
        let system = text(a, "agentrail.system").or(system).or_else(|| {
            // Only a span no convention describes takes the service as the system acted on.
            (class == SpanClass::Other)
                .then(|| self.service_name())
                .flatten()
        });
        let mut act = Map::new();
        act.insert("type".into(), action_type.into());
        let system = system.unwrap_or_else(|| {
            missing.push("action.system");
            PLACEHOLDER.into()
        });
        act.insert("system".into(), system.into());
        let declared_type = a.get("agentrail.action.type");
        let is_model_call = match declared_type {
            Some(t) => t.as_str() == Some("model_call"),
            None => action_type == "model_call",
        };
        match resource {
            Some(r) => {
                act.insert("resource".into(), r.into());
            }
            None if !is_model_call => {
                missing.push("action.resource");
                act.insert("resource".into(), PLACEHOLDER.into());
            }
            None => {}
        }
        if let Some(op) = operation {
            act.insert("operation".into(), op.into());
        }
        let error = self.span.status.as_ref().map(|s| s.code) == Some(StatusCode::Error as i32);
        act.insert("status".into(), if error { "error" } else { "ok" }.into());
        if let Some(d) = duration_ms(self.span) {
            act.insert("duration_ms".into(), d);
        }
        if class == SpanClass::Tool {
            if let Some(args) = a.get("gen_ai.tool.call.arguments") {
                act.insert("params".into(), structured(args));
            }
        }
        if class == SpanClass::Model {
            let model = first_text(
                a,
                &[
                    "gen_ai.response.model",
                    "gen_ai.request.model",
                    "llm.response.model_name",
                    "llm.model_name",
                    "llm.request.model_name",
                ],
            );
            if let Some(m) = model {
                act.insert("model".into(), m.into());
            }
            let mut tokens = Map::new();
            let input = count(a, "gen_ai.usage.input_tokens")
                .or_else(|| count(a, "llm.token_count.prompt"));
            let output = count(a, "gen_ai.usage.output_tokens")
                .or_else(|| count(a, "llm.token_count.completion"));
            if let Some(n) = input {
                tokens.insert("input".into(), n.into());
            }
            if let Some(n) = output {
                tokens.insert("output".into(), n.into());
            }
            if !tokens.is_empty() {
                act.insert("tokens".into(), Value::Object(tokens));
            }
        }
        // Explicit agentrail attributes override what the conventions say.
        for (attr, field) in [
            ("agentrail.action.type", "type"),
            ("agentrail.action.status", "status"),
            ("agentrail.action.operation", "operation"),
            ("agentrail.action.count", "count"),
        ] {
            copy_raw(a, attr, &mut act, field);
        }
        if let Some(ids) = a.get("agentrail.action.resource_ids") {
            act.insert("resource_ids".into(), structured(ids));
        }
        let mut body = Map::new();
        body.insert("action".into(), Value::Object(act));
        self.event("action", "action", &self.start_ts, body, derived, missing)
    }

    fn service_name(&self) -> Option<String> {
        text(&self.context, "resource.service.name")
    }

    fn span_event(
        &self,
        index: usize,
        ev: &Event,
        kind: &str,
        prefix: &str,
    ) -> Result<Value, String> {
        let attrs = kv_map(&ev.attributes, VALUE_LEVELS);
        let mut body = Map::new();
        for f in schema::kind_spec(kind).map_or(&[][..], |s| s.fields) {
            match f.ty {
                Ty::Object(inner) => {
                    body.insert(
                        f.name.into(),
                        Value::Object(fields_from(&attrs, prefix, inner)),
                    );
                }
                ty => {
                    if let Some(v) = attrs.get(&format!("{prefix}{}", f.name)) {
                        body.insert(f.name.into(), convert(v, ty));
                    }
                }
            }
        }
        let ts = match ev.time_unix_nano {
            0 => self.start_ts.clone(),
            t => format_nanos(t)?,
        };
        let mut derived = Map::new();
        derived.insert("otel.event.name".into(), ev.name.clone().into());
        derived.insert("otel.event.index".into(), index.into());
        derived.insert(
            "otel.event.time_unix_nano".into(),
            ev.time_unix_nano.to_string().into(),
        );
        derived.insert("otel.event.attributes".into(), Value::Object(attrs));
        put_count(
            &mut derived,
            "otel.event.dropped_attributes_count",
            ev.dropped_attributes_count,
        );
        Ok(self.event(&format!("e{index}"), kind, &ts, body, derived, Vec::new()))
    }
}

/// The fields of `kind`'s body object `field`, from the v1 schema tables.
fn object_fields(kind: &str, field: &str) -> &'static [Field] {
    let fields = schema::kind_spec(kind).map_or(&[][..], |s| s.fields);
    match fields.iter().find(|f| f.name == field).map(|f| f.ty) {
        Some(Ty::Object(inner)) => inner,
        _ => &[],
    }
}

/// The body object whose fields are the attributes `<prefix><field>`, each converted to its type.
fn fields_from(attrs: &Map<String, Value>, prefix: &str, fields: &[Field]) -> Map<String, Value> {
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = attrs.get(&format!("{prefix}{}", f.name)) {
            out.insert(f.name.into(), convert(v, f.ty));
        }
    }
    out
}

/// An attribute as the value of a body field of type `ty`: a structured field (array, object,
/// any) given as a string holding JSON takes the parsed JSON. Anything else is taken as it is, so
/// a value of the wrong type is reported by validation, naming the field.
fn convert(v: &Value, ty: Ty) -> Value {
    match ty {
        Ty::StrArray | Ty::Array | Ty::Any | Ty::Object(_) | Ty::ObjArray(_) => structured(v),
        _ => v.clone(),
    }
}

/// A string that holds strict JSON (I-JSON, nested at most [`VALUE_LEVELS`] deep) becomes that
/// JSON; any other value is kept as it is.
fn structured(v: &Value) -> Value {
    if let Value::String(s) = v {
        if let Ok(parsed) = json::parse_strict(s.as_bytes()) {
            if levels(&parsed) <= VALUE_LEVELS {
                return parsed;
            }
        }
    }
    v.clone()
}

fn levels(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(levels).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(levels).max().unwrap_or(0),
        _ => 0,
    }
}

fn copy_raw(attrs: &Map<String, Value>, attr: &str, into: &mut Map<String, Value>, field: &str) {
    if let Some(v) = attrs.get(attr) {
        into.insert(field.into(), v.clone());
    }
}

/// An identifier attribute as the event model wants it: an integer (instrumentation often sets
/// `request.id = 47892`) becomes its decimal text; anything else is kept as sent, so validation
/// still names a value of the wrong type.
fn id_value(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_i64() || n.is_u64() => Value::String(n.to_string()),
        other => other.clone(),
    }
}

/// A standard attribute's text: a non-empty string, or an integer's decimal digits.
fn text(attrs: &Map<String, Value>, key: &str) -> Option<String> {
    match attrs.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn first_text(attrs: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| text(attrs, k))
}

/// A non-negative integer attribute (an integral double counts).
fn count(attrs: &Map<String, Value>, key: &str) -> Option<u64> {
    let n = attrs.get(key)?.as_number()?;
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    let f = n.as_f64()?;
    (f >= 0.0 && f.fract() == 0.0 && f <= MAX_SAFE_INT as f64).then_some(f as u64)
}

/// `end - start` in milliseconds, when the span has both times in that order.
fn duration_ms(span: &Span) -> Option<Value> {
    let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
    if start == 0 || end < start {
        return None;
    }
    let nanos = end - start;
    if nanos % 1_000_000 == 0 {
        return Some((nanos / 1_000_000).into());
    }
    Number::from_f64(nanos as f64 / 1e6).map(Value::Number)
}

fn check_id(field: &str, id: &[u8], len: usize) -> Result<(), String> {
    if id.len() != len {
        return Err(format!(
            "{field} has {} bytes; it must be {len} bytes, not all zero",
            id.len()
        ));
    }
    if id.iter().all(|b| *b == 0) {
        return Err(format!("{field} is all zero"));
    }
    Ok(())
}

fn format_nanos(nanos: u64) -> Result<String, String> {
    timefmt::format_unix_nanos(i128::from(nanos)).map_err(|e| format!("time {nanos}: {e}"))
}

fn put_str(o: &mut Map<String, Value>, key: &str, s: &str) {
    if !s.is_empty() {
        o.insert(key.into(), s.into());
    }
}

fn put_count(o: &mut Map<String, Value>, key: &str, n: u32) {
    if n != 0 {
        o.insert(key.into(), n.into());
    }
}

/// Key/values as a JSON object; the last of duplicate keys wins.
fn kv_map(kvs: &[KeyValue], levels: usize) -> Map<String, Value> {
    let mut out = Map::new();
    for kv in kvs {
        out.insert(kv.key.clone(), any_to_json(kv.value.as_ref(), levels));
    }
    out
}

/// An OTLP value as JSON, keeping every value exact: integers beyond ±(2^53−1), non-finite and
/// out-of-range doubles become strings, bytes become base64, an empty value is `null`. A container
/// that would nest deeper than `levels` is stored as its JSON text.
fn any_to_json(v: Option<&AnyValue>, levels: usize) -> Value {
    use any_value::Value as V;
    let Some(v) = v.and_then(|v| v.value.as_ref()) else {
        return Value::Null;
    };
    match v {
        V::StringValue(s) => s.clone().into(),
        V::BoolValue(b) => (*b).into(),
        V::IntValue(i) if (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(i) => (*i).into(),
        V::IntValue(i) => i.to_string().into(),
        V::DoubleValue(d) => double_json(*d),
        V::BytesValue(b) => b64(b).into(),
        V::StringValueStrindex(i) => (*i).into(),
        V::ArrayValue(_) | V::KvlistValue(_) if levels == 0 => {
            let full = any_to_json(
                Some(&AnyValue {
                    value: Some(v.clone()),
                }),
                usize::MAX,
            );
            full.to_string().into()
        }
        V::ArrayValue(a) => Value::Array(
            a.values
                .iter()
                .map(|x| any_to_json(Some(x), levels - 1))
                .collect(),
        ),
        V::KvlistValue(kv) => Value::Object(kv_map(&kv.values, levels - 1)),
    }
}

fn double_json(d: f64) -> Value {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d.abs() > MAX_SAFE_INT as f64 {
        // Every double of this size is an integer some readers cannot hold; `{:?}` is the shortest
        // text that reads back as the same double.
        return format!("{d:?}").into();
    }
    Number::from_f64(d).map_or(Value::Null, Value::Number)
}

mod json_decode;

#[cfg(test)]
mod tests;
