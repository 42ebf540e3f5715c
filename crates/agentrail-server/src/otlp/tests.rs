//! Every rule of `docs/otlp.md`, through `map_request` on hand-built requests; every event a
//! well-formed span yields must pass `validate_client_event`.

use super::*;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Status;
use serde_json::json;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";
/// 2026-11-24T08:00:00Z.
const T0: u64 = 1_795_507_200_000_000_000;
const MS: u64 = 1_000_000;

// ---- builders ------------------------------------------------------------------------------

fn bytes_of(hex: &str) -> Vec<u8> {
    agentrail_core::hash::from_hex(hex).expect("test ids are hex")
}

fn av(v: any_value::Value) -> AnyValue {
    AnyValue { value: Some(v) }
}
fn s(x: &str) -> AnyValue {
    av(any_value::Value::StringValue(x.into()))
}
fn int(x: i64) -> AnyValue {
    av(any_value::Value::IntValue(x))
}
fn dbl(x: f64) -> AnyValue {
    av(any_value::Value::DoubleValue(x))
}
fn boolean(x: bool) -> AnyValue {
    av(any_value::Value::BoolValue(x))
}
fn arr(values: Vec<AnyValue>) -> AnyValue {
    av(any_value::Value::ArrayValue(ArrayValue { values }))
}
fn strs(values: &[&str]) -> AnyValue {
    arr(values.iter().map(|x| s(x)).collect())
}
fn kvlist(values: Vec<KeyValue>) -> AnyValue {
    av(any_value::Value::KvlistValue(KeyValueList { values }))
}
fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        key_strindex: 0,
    }
}

fn status(code: StatusCode, message: &str) -> Option<Status> {
    Some(Status {
        message: message.into(),
        code: code as i32,
    })
}

fn span_with(span_id: &str, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id: bytes_of(TRACE),
        span_id: bytes_of(span_id),
        name: name.into(),
        kind: SpanKind::Internal as i32,
        start_time_unix_nano: T0 + 120 * MS,
        end_time_unix_nano: T0 + 3_930 * MS,
        attributes,
        ..Default::default()
    }
}

fn span(name: &str, attributes: Vec<KeyValue>) -> Span {
    span_with(SPAN, name, attributes)
}

fn event(name: &str, time: u64, attributes: Vec<KeyValue>) -> Event {
    Event {
        time_unix_nano: time,
        name: name.into(),
        attributes,
        dropped_attributes_count: 0,
    }
}

fn request_with(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test-scope".into(),
                    version: "1.2.3".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    request_with(vec![kv("service.name", s("drafter-svc"))], spans)
}

/// Maps one well-formed span: it must map, and every event must be a valid v1 event.
fn map_one(span: Span) -> Vec<Value> {
    map_in(request(vec![span]))
}

fn map_in(req: ExportTraceServiceRequest) -> Vec<Value> {
    let (mut mapped, unmappable) = map_request(&req);
    assert!(unmappable.is_empty(), "unmappable: {unmappable:?}");
    assert_eq!(mapped.len(), 1);
    let events = mapped.remove(0).events;
    for ev in &events {
        assert_valid(ev);
    }
    events
}

fn assert_valid(ev: &Value) {
    if let Err(e) = validate_client_event(ev.clone()) {
        panic!("{e}\n{ev:#}");
    }
}

/// The one event of a span that maps to a single event.
fn single(span: Span) -> Value {
    let mut events = map_one(span);
    assert_eq!(events.len(), 1, "{events:#?}");
    events.remove(0)
}

fn attr<'a>(ev: &'a Value, key: &str) -> &'a Value {
    &ev["attributes"][key]
}

fn missing(ev: &Value) -> Vec<String> {
    match attr(ev, MISSING_KEY) {
        Value::Null => Vec::new(),
        v => serde_json::from_value(v.clone()).unwrap(),
    }
}

fn reason_of(span: Span) -> String {
    let (mapped, mut unmappable) = map_request(&request(vec![span]));
    assert!(mapped.is_empty());
    assert_eq!(unmappable.len(), 1);
    unmappable.remove(0).reason
}

// ---- envelope --------------------------------------------------------------------------------

#[test]
fn envelope_defaults_session_to_trace_id_and_agent_to_service() {
    let ev = single(span("work", vec![]));
    assert_eq!(ev["session_id"], TRACE);
    assert_eq!(ev["agent_id"], "service:drafter-svc");
    assert_eq!(ev["trace_id"], TRACE);
    assert_eq!(ev["span_id"], SPAN);
    assert_eq!(ev["event_id"], format!("otlp:{TRACE}:{SPAN}:action"));
    assert!(ev.get("principal").is_none());
    assert!(ev.get("parent_span_id").is_none());
}

#[test]
fn session_id_comes_from_agentrail_session_id() {
    let ev = single(span("work", vec![kv("agentrail.session.id", s("sess-1"))]));
    assert_eq!(ev["session_id"], "sess-1");
}

#[test]
fn conversation_id_is_kept_beside_the_original_attribute() {
    for key in ["gen_ai.conversation.id", "session.id"] {
        let ev = single(span("work", vec![kv(key, s("conv-9"))]));
        assert_eq!(ev["session_id"], TRACE, "{key} is not the session");
        assert_eq!(attr(&ev, "agentrail.conversation.id"), "conv-9");
        assert_eq!(attr(&ev, key), "conv-9");
    }
    let both = single(span(
        "work",
        vec![
            kv("session.id", s("oi")),
            kv("gen_ai.conversation.id", s("gen")),
        ],
    ));
    assert_eq!(attr(&both, "agentrail.conversation.id"), "gen");
}

#[test]
fn agent_id_fallback_chain() {
    type Pairs = &'static [(&'static str, &'static str)];
    let cases: &[(Pairs, Pairs, &str)] = &[
        (
            &[
                ("gen_ai.agent.id", "agt-1"),
                ("gen_ai.agent.name", "drafter"),
                ("agent.name", "oi"),
            ],
            &[("service.name", "svc")],
            "agt-1",
        ),
        (
            &[("gen_ai.agent.name", "drafter"), ("agent.name", "oi")],
            &[("service.name", "svc")],
            "drafter",
        ),
        (&[("agent.name", "oi")], &[("service.name", "svc")], "oi"),
        (
            &[("gen_ai.agent.id", "")],
            &[("service.name", "svc")],
            "service:svc",
        ),
        (&[], &[("service.name", "svc")], "service:svc"),
        (&[], &[], "service:unknown_service"),
    ];
    for (span_attrs, resource, expected) in cases {
        let attrs = span_attrs.iter().map(|(k, v)| kv(k, s(v))).collect();
        let resource = resource.iter().map(|(k, v)| kv(k, s(v))).collect();
        let events = map_in(request_with(resource, vec![span("work", attrs)]));
        assert_eq!(events[0]["agent_id"], *expected, "{span_attrs:?}");
    }
}

#[test]
fn principal_comes_from_agentrail_principal() {
    let ev = single(span("work", vec![kv("agentrail.principal", s("svc-bot"))]));
    assert_eq!(ev["principal"], "svc-bot");
}

#[test]
fn parent_span_id_is_kept_unless_empty_or_zero() {
    let mut sp = span("work", vec![]);
    sp.parent_span_id = bytes_of("00f067aa0ba90200");
    assert_eq!(single(sp.clone())["parent_span_id"], "00f067aa0ba90200");
    sp.parent_span_id = vec![0; 8];
    assert!(single(sp).get("parent_span_id").is_none());
}

#[test]
fn ids_are_lowercase_hex_and_event_ids_fit_the_v1_charset() {
    let mut sp = span(
        "invoke_agent x",
        vec![kv("gen_ai.operation.name", s("invoke_agent"))],
    );
    sp.trace_id = vec![0xAB; 16];
    sp.span_id = vec![0xCD; 8];
    sp.events = (0..12)
        .map(|i| event("agentrail.diff", T0 + i, diff_attrs()))
        .collect();
    let events = map_one(sp);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    let prefix = format!("otlp:{}:{}:", "ab".repeat(16), "cd".repeat(8));
    assert_eq!(ids[0], format!("{prefix}start"));
    assert_eq!(ids[1], format!("{prefix}e0"));
    assert_eq!(ids[12], format!("{prefix}e11"));
    assert_eq!(ids[13], format!("{prefix}end"));
    assert!(ids.iter().all(|id| id.len() <= 128));
}

// ---- unmappable spans -------------------------------------------------------------------------

#[test]
fn spans_with_bad_ids_or_no_time_are_unmappable() {
    type Edit = Box<dyn Fn(&mut Span)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|s| s.trace_id.clear()), "trace_id has 0 bytes"),
        (
            Box::new(|s| s.trace_id = vec![1; 15]),
            "trace_id has 15 bytes",
        ),
        (
            Box::new(|s| s.trace_id = vec![0; 16]),
            "trace_id is all zero",
        ),
        (Box::new(|s| s.span_id.clear()), "span_id has 0 bytes"),
        (Box::new(|s| s.span_id = vec![0; 8]), "span_id is all zero"),
        (Box::new(|s| s.span_id = vec![1; 9]), "span_id has 9 bytes"),
        (
            Box::new(|s| s.parent_span_id = vec![1; 4]),
            "parent_span_id has 4 bytes",
        ),
        (
            Box::new(|s| {
                s.start_time_unix_nano = 0;
                s.end_time_unix_nano = 0;
            }),
            "neither start_time_unix_nano nor end_time_unix_nano",
        ),
    ];
    for (edit, expected) in cases {
        let mut sp = span("work", vec![]);
        edit(&mut sp);
        let reason = reason_of(sp);
        assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
    }
}

#[test]
fn an_unmappable_span_reports_its_ids_and_spares_the_others() {
    let mut bad = span_with("00f067aa0ba902c9", "bad", vec![]);
    bad.trace_id = vec![0xAA; 3];
    let good = span("good", vec![]);
    let (mapped, unmappable) = map_request(&request(vec![bad, good.clone()]));
    assert_eq!(unmappable.len(), 1);
    assert_eq!(unmappable[0].trace_id, "aaaaaa");
    assert_eq!(unmappable[0].span_id, "00f067aa0ba902c9");
    assert_eq!(mapped.len(), 1);
    assert_eq!(mapped[0].span_id, SPAN);
    assert_eq!(mapped[0].events, map_one(good), "mapped as if alone");
}

// ---- timestamps -------------------------------------------------------------------------------

#[test]
fn timestamps_use_start_for_start_and_action_end_for_end() {
    let mut sp = span(
        "agent",
        vec![kv("gen_ai.operation.name", s("invoke_agent"))],
    );
    sp.start_time_unix_nano = T0 + 1;
    sp.end_time_unix_nano = T0 + 29_500 * MS + 7;
    let events = map_one(sp.clone());
    assert_eq!(events[0]["ts"], "2026-11-24T08:00:00.000000001Z");
    assert_eq!(events[1]["ts"], "2026-11-24T08:00:29.500000007Z");
    sp.attributes.clear();
    assert_eq!(single(sp)["ts"], "2026-11-24T08:00:00.000000001Z");
}

#[test]
fn a_missing_time_takes_the_other() {
    let mut sp = span(
        "agent",
        vec![kv("gen_ai.operation.name", s("invoke_agent"))],
    );
    sp.start_time_unix_nano = 0;
    let events = map_one(sp.clone());
    assert_eq!(events[0]["ts"], "2026-11-24T08:00:03.93Z");
    assert_eq!(events[1]["ts"], "2026-11-24T08:00:03.93Z");
    sp.start_time_unix_nano = T0;
    sp.end_time_unix_nano = 0;
    let events = map_one(sp);
    assert_eq!(events[0]["ts"], "2026-11-24T08:00:00Z");
    assert_eq!(events[1]["ts"], "2026-11-24T08:00:00Z");
}

// ---- invoke_agent -----------------------------------------------------------------------------

fn agent_span(extra: Vec<KeyValue>) -> Span {
    let mut attrs = vec![kv("gen_ai.operation.name", s("invoke_agent"))];
    attrs.extend(extra);
    span("invoke_agent drafter", attrs)
}

#[test]
fn invoke_agent_yields_session_start_and_end() {
    let mut sp = agent_span(vec![
        kv("user.id", s("alice@acme.example")),
        kv("agentrail.request.id", s("47892")),
        kv("agentrail.parent_session.id", s("sess-parent")),
    ]);
    sp.status = status(StatusCode::Ok, "");
    let events = map_one(sp);
    assert_eq!(events.len(), 2);
    let (start, end) = (&events[0], &events[1]);
    assert_eq!(start["kind"], "session.start");
    assert_eq!(
        start["trigger"],
        json!({"type": "user", "initiator": "alice@acme.example", "request_id": "47892"})
    );
    assert_eq!(start["parent_session_id"], "sess-parent");
    assert!(missing(start).is_empty());
    assert_eq!(end["kind"], "session.end");
    assert_eq!(end["outcome"], json!({"status": "succeeded"}));
    assert_eq!(end["event_id"], format!("otlp:{TRACE}:{SPAN}:end"));
}

#[test]
fn openinference_agent_kind_is_a_session() {
    let sp = span("agent", vec![kv("openinference.span.kind", s("AGENT"))]);
    let kinds: Vec<Value> = map_one(sp).iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, ["session.start", "session.end"]);
}

#[test]
fn trigger_initiator_and_type() {
    // (attributes, expected trigger, expected missing)
    let cases: Vec<(Vec<KeyValue>, Value, Vec<&str>)> = vec![
        (
            vec![kv("enduser.id", s("bob"))],
            json!({"type": "user", "initiator": "bob"}),
            vec![],
        ),
        (
            vec![kv("user.id", s("alice")), kv("enduser.id", s("bob"))],
            json!({"type": "user", "initiator": "alice"}),
            vec![],
        ),
        (
            vec![],
            json!({"type": "system", "initiator": "unknown"}),
            vec!["trigger.initiator"],
        ),
        (
            vec![kv("agentrail.trigger.type", s("schedule"))],
            json!({"type": "schedule", "initiator": "unknown"}),
            vec!["trigger.initiator"],
        ),
        (
            vec![
                kv("agentrail.trigger.type", s("agent")),
                kv("user.id", s("planner")),
            ],
            json!({"type": "agent", "initiator": "planner"}),
            vec![],
        ),
        (
            vec![
                kv("agentrail.trigger.type", s("cron")),
                kv("user.id", s("alice")),
            ],
            json!({"type": "user", "initiator": "alice"}),
            vec![],
        ),
        (
            vec![
                kv("agentrail.trigger.type", s("schedule")),
                kv("user.id", s("nightly")),
                kv("agentrail.trigger.schedule", s("0 2 * * *")),
                kv("agentrail.trigger.request", s("reconcile invoices")),
            ],
            json!({"type": "schedule", "initiator": "nightly", "schedule": "0 2 * * *",
                   "request": "reconcile invoices"}),
            vec![],
        ),
    ];
    for (attrs, trigger, expected_missing) in cases {
        let start = map_one(agent_span(attrs)).remove(0);
        assert_eq!(start["trigger"], trigger);
        assert_eq!(missing(&start), expected_missing);
    }
}

#[test]
fn session_start_carries_authorization_from_span_attributes() {
    let start = map_one(agent_span(vec![
        kv("user.id", s("alice")),
        kv("agentrail.authz.decision", s("allow")),
        kv("agentrail.authz.policy", s("policies/drafter.cedar")),
        kv("agentrail.authz.policy_hash", s("sha256:9f2c")),
        kv(
            "agentrail.authz.permissions",
            strs(&["crm:read", "llm:invoke"]),
        ),
        kv("agentrail.authz.granted_by", s("okta-group:revops")),
    ]))
    .remove(0);
    assert_eq!(
        start["authorization"],
        json!({"decision": "allow", "policy": "policies/drafter.cedar", "policy_hash": "sha256:9f2c",
               "permissions": ["crm:read", "llm:invoke"], "granted_by": "okta-group:revops"})
    );
}

#[test]
fn session_end_outcome_follows_span_status() {
    let cases = [
        (None, json!({"status": "succeeded"})),
        (
            status(StatusCode::Unset, ""),
            json!({"status": "succeeded"}),
        ),
        (
            status(StatusCode::Ok, "drafted 10 emails"),
            json!({"status": "succeeded", "summary": "drafted 10 emails"}),
        ),
        (
            status(StatusCode::Error, "rate limited"),
            json!({"status": "failed", "summary": "rate limited"}),
        ),
    ];
    for (st, outcome) in cases {
        let mut sp = agent_span(vec![]);
        sp.status = st;
        assert_eq!(map_one(sp)[1]["outcome"], outcome);
    }
    let mut sp = agent_span(vec![
        kv("agentrail.outcome.status", s("partial")),
        kv("agentrail.outcome.summary", s("routed; no payment history")),
    ]);
    sp.status = status(StatusCode::Error, "permission denied");
    assert_eq!(
        map_one(sp)[1]["outcome"],
        json!({"status": "partial", "summary": "routed; no payment history"})
    );
}

#[test]
fn a_nested_agent_keeps_its_parent_span() {
    let mut sp = agent_span(vec![kv("user.id", s("planner"))]);
    sp.parent_span_id = bytes_of("00f067aa0ba90201");
    for ev in map_one(sp) {
        assert_eq!(ev["parent_span_id"], "00f067aa0ba90201");
    }
}

// ---- execute_tool -----------------------------------------------------------------------------

fn tool_span(extra: Vec<KeyValue>) -> Span {
    let mut attrs = vec![kv("gen_ai.operation.name", s("execute_tool"))];
    attrs.extend(extra);
    span("execute_tool crm.search", attrs)
}

#[test]
fn execute_tool_is_a_tool_call() {
    let ev = single(tool_span(vec![
        kv("gen_ai.tool.name", s("crm.search")),
        kv("gen_ai.tool.call.id", s("toolu_01")),
        kv(
            "gen_ai.tool.call.arguments",
            s(r#"{"segment":"enterprise","limit":10}"#),
        ),
    ]));
    assert_eq!(ev["kind"], "action");
    assert_eq!(
        ev["action"],
        json!({"type": "tool_call", "system": "crm.search", "operation": "crm.search",
               "resource": "toolu_01", "status": "ok", "duration_ms": 3810,
               "params": {"segment": "enterprise", "limit": 10}})
    );
    assert_eq!(ev["ts"], "2026-11-24T08:00:00.12Z");
}

#[test]
fn tool_resource_and_system_fallbacks() {
    let ev = single(tool_span(vec![
        kv("gen_ai.tool.name", s("crm.search")),
        kv("gen_ai.tool.call.id", s("toolu_01")),
        kv("agentrail.resource", s("crm/accounts")),
    ]));
    assert_eq!(ev["action"]["resource"], "crm/accounts");
    let ev = single(tool_span(vec![]));
    assert_eq!(ev["action"]["resource"], "execute_tool crm.search");
    assert_eq!(ev["action"]["system"], "unknown");
    assert!(ev["action"].get("operation").is_none());
    assert_eq!(missing(&ev), ["action.system"]);
    let mut sp = tool_span(vec![]);
    sp.name.clear();
    let ev = single(sp);
    assert_eq!(ev["action"]["resource"], "unknown");
    assert_eq!(missing(&ev), ["action.resource", "action.system"]);
    let ev = single(span(
        "tool",
        vec![
            kv("openinference.span.kind", s("TOOL")),
            kv("tool.name", s("search")),
        ],
    ));
    assert_eq!(ev["action"]["type"], "tool_call");
    assert_eq!(ev["action"]["system"], "search");
}

#[test]
fn tool_arguments_are_parsed_when_they_are_json() {
    let cases = [
        (s(r#"{"q":"x"}"#), json!({"q": "x"})),
        (s("[1,2]"), json!([1, 2])),
        (s("not json {"), json!("not json {")),
        (s(r#"{"a":1,"a":2}"#), json!(r#"{"a":1,"a":2}"#)),
        (
            s(r#"{"n":12345678901234567890}"#),
            json!(r#"{"n":12345678901234567890}"#),
        ),
        (kvlist(vec![kv("q", s("x"))]), json!({"q": "x"})),
    ];
    for (args, params) in cases {
        let ev = single(tool_span(vec![kv("gen_ai.tool.call.arguments", args)]));
        assert_eq!(ev["action"]["params"], params);
    }
}

#[test]
fn action_status_follows_span_status() {
    for (st, expected) in [
        (None, "ok"),
        (status(StatusCode::Ok, ""), "ok"),
        (status(StatusCode::Error, "boom"), "error"),
    ] {
        let mut sp = tool_span(vec![kv("gen_ai.tool.name", s("t"))]);
        sp.status = st;
        assert_eq!(single(sp)["action"]["status"], expected);
    }
}

#[test]
fn duration_is_in_milliseconds_and_absent_without_both_times() {
    let mut sp = tool_span(vec![kv("gen_ai.tool.name", s("t"))]);
    sp.end_time_unix_nano = sp.start_time_unix_nano + 250_500_000;
    assert_eq!(single(sp.clone())["action"]["duration_ms"], json!(250.5));
    sp.end_time_unix_nano = 0;
    assert!(single(sp.clone())["action"].get("duration_ms").is_none());
    sp.end_time_unix_nano = sp.start_time_unix_nano - 1;
    assert!(single(sp)["action"].get("duration_ms").is_none());
}

// ---- model calls ------------------------------------------------------------------------------

#[test]
fn inference_operations_are_model_calls() {
    for op in ["chat", "text_completion", "generate_content", "embeddings"] {
        let ev = single(span(
            &format!("{op} claude"),
            vec![
                kv("gen_ai.operation.name", s(op)),
                kv("gen_ai.provider.name", s("anthropic")),
                kv("gen_ai.request.model", s("claude-sonnet-4-5")),
                kv("gen_ai.response.model", s("claude-sonnet-4-5-20250929")),
                kv("gen_ai.usage.input_tokens", int(2174)),
                kv("gen_ai.usage.output_tokens", int(412)),
            ],
        ));
        assert_eq!(
            ev["action"],
            json!({"type": "model_call", "system": "anthropic", "operation": op,
                   "model": "claude-sonnet-4-5-20250929", "status": "ok", "duration_ms": 3810,
                   "tokens": {"input": 2174, "output": 412}})
        );
    }
}

#[test]
fn model_call_fallbacks() {
    let ev = single(span(
        "chat",
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.system", s("openai")),
            kv("gen_ai.request.model", s("gpt-4o")),
            kv("gen_ai.usage.input_tokens", int(-1)),
            kv("gen_ai.usage.output_tokens", dbl(7.0)),
        ],
    ));
    assert_eq!(ev["action"]["system"], "openai");
    assert_eq!(ev["action"]["model"], "gpt-4o");
    assert_eq!(ev["action"]["tokens"], json!({"output": 7}));
    assert_eq!(attr(&ev, "gen_ai.usage.input_tokens"), -1, "kept as sent");

    let ev = single(span(
        "llm",
        vec![
            kv("openinference.span.kind", s("LLM")),
            kv("llm.provider", s("anthropic")),
            kv("llm.model_name", s("claude")),
            kv("llm.token_count.prompt", int(10)),
            kv("llm.token_count.completion", int(20)),
        ],
    ));
    assert_eq!(
        ev["action"],
        json!({"type": "model_call", "system": "anthropic", "model": "claude", "status": "ok",
               "duration_ms": 3810, "tokens": {"input": 10, "output": 20}})
    );

    let ev = single(span(
        "embed",
        vec![kv("openinference.span.kind", s("EMBEDDING"))],
    ));
    assert_eq!(ev["action"]["type"], "model_call");
    assert_eq!(ev["action"]["system"], "unknown");
    assert!(
        ev["action"].get("resource").is_none(),
        "a model is not a resource"
    );
    assert_eq!(missing(&ev), ["action.system"]);
}

#[test]
fn operation_name_wins_over_openinference_kind() {
    let ev = single(span(
        "x",
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("openinference.span.kind", s("TOOL")),
        ],
    ));
    assert_eq!(ev["action"]["type"], "model_call");
    let ev = single(span(
        "x",
        vec![
            kv("gen_ai.operation.name", s("plan")),
            kv("openinference.span.kind", s("TOOL")),
        ],
    ));
    assert_eq!(ev["action"]["type"], "tool_call");
}

// ---- retrieval and other spans ----------------------------------------------------------------

#[test]
fn retrieval_is_a_query() {
    let ev = single(span(
        "retrieval contracts",
        vec![
            kv("gen_ai.operation.name", s("retrieval")),
            kv("gen_ai.data_source.id", s("contracts-index")),
            kv("gen_ai.provider.name", s("pinecone")),
        ],
    ));
    assert_eq!(
        ev["action"],
        json!({"type": "query", "system": "contracts-index", "resource": "retrieval contracts",
               "operation": "retrieval", "status": "ok", "duration_ms": 3810})
    );
    let ev = single(span(
        "search",
        vec![
            kv("openinference.span.kind", s("RETRIEVER")),
            kv("gen_ai.provider.name", s("pinecone")),
            kv("agentrail.resource", s("idx/contracts")),
        ],
    ));
    assert_eq!(ev["action"]["type"], "query");
    assert_eq!(ev["action"]["system"], "pinecone");
    assert_eq!(ev["action"]["resource"], "idx/contracts");
}

#[test]
fn any_other_span_is_a_state_change() {
    let ev = single(span("GET", vec![kv("http.request.method", s("GET"))]));
    assert_eq!(
        ev["action"],
        json!({"type": "state_change", "system": "drafter-svc", "resource": "GET",
               "status": "ok", "duration_ms": 3810})
    );
    let ev = single(span(
        "plan",
        vec![
            kv("gen_ai.operation.name", s("plan")),
            kv("agentrail.system", s("planner")),
            kv("agentrail.resource", s("plan/7")),
        ],
    ));
    assert_eq!(ev["action"]["system"], "planner");
    assert_eq!(ev["action"]["resource"], "plan/7");
    let events = map_in(request_with(vec![], vec![span("GET", vec![])]));
    assert_eq!(events[0]["action"]["system"], "unknown");
    assert_eq!(missing(&events[0]), ["action.system"]);
}

#[test]
fn agentrail_action_attributes_override() {
    let mut sp = span(
        "SELECT payments",
        vec![
            kv("agentrail.action.type", s("query")),
            kv("agentrail.action.status", s("denied")),
            kv("agentrail.action.operation", s("SELECT")),
            kv("agentrail.action.count", int(0)),
            kv("agentrail.action.resource_ids", strs(&["p-1", "p-2"])),
            kv("agentrail.system", s("postgres-prod")),
            kv("agentrail.resource", s("public.payments")),
        ],
    );
    sp.status = status(StatusCode::Error, "permission denied for table payments");
    assert_eq!(
        single(sp)["action"],
        json!({"type": "query", "system": "postgres-prod", "resource": "public.payments",
               "operation": "SELECT", "status": "denied", "count": 0,
               "resource_ids": ["p-1", "p-2"], "duration_ms": 3810})
    );
    // A declared type that is not a v1 action type is reported by validation, with its field.
    let (mapped, _) = map_request(&request(vec![span(
        "x",
        vec![kv("agentrail.action.type", s("teleport"))],
    )]));
    let err = validate_client_event(mapped[0].events[0].clone()).unwrap_err();
    assert_eq!(err.field, "action.type");
}

// ---- span events ------------------------------------------------------------------------------

fn decision_attrs() -> Vec<KeyValue> {
    vec![
        kv("agentrail.decision.name", s("route-ticket")),
        kv("agentrail.decision.question", s("which queue?")),
        kv("agentrail.decision.chosen", strs(&["billing-queue"])),
        kv(
            "agentrail.decision.considered",
            strs(&["billing-queue", "tier1"]),
        ),
        kv("agentrail.decision.inputs", s(r#"[{"ticket":88121}]"#)),
        kv(
            "agentrail.decision.rejected",
            s(r#"[{"id":"tier1","reason":"refund over $500"}]"#),
        ),
        kv("agentrail.decision.rationale", s("Refunds go to billing.")),
        kv("agentrail.decision.model", s("claude-sonnet-4-5")),
    ]
}

fn diff_attrs() -> Vec<KeyValue> {
    vec![
        kv("agentrail.diff.system", s("zendesk")),
        kv("agentrail.diff.resource", s("tickets/88121")),
        kv("agentrail.diff.op", s("update")),
        kv("agentrail.diff.before", s(r#"{"group":"triage"}"#)),
        kv("agentrail.diff.after", s(r#"{"group":"billing"}"#)),
    ]
}

#[test]
fn agentrail_span_events_become_decision_diff_and_authz_change() {
    let mut sp = span("work", vec![]);
    sp.events = vec![
        event(
            "exception",
            T0 + 200 * MS,
            vec![kv("exception.message", s("retry"))],
        ),
        event("agentrail.decision", T0 + 300 * MS, decision_attrs()),
        event("agentrail.diff", T0 + 400 * MS, diff_attrs()),
        event(
            "agentrail.authz",
            T0 + 500 * MS,
            vec![
                kv("agentrail.authz.decision", s("allow")),
                kv("agentrail.authz.policy", s("policies/drafter.cedar")),
                kv("agentrail.authz.permissions", strs(&["crm:read"])),
                kv("agentrail.authz.granted_by", s("okta")),
                kv("agentrail.authz.policy_hash", s("sha256:ab")),
                kv("agentrail.authz.reason", s("drafting finished")),
            ],
        ),
    ];
    let events = map_one(sp);
    let roles: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().rsplit(':').next().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["action", "e1", "e2", "e3"],
        "index among all span events"
    );
    let decision = &events[1];
    assert_eq!(decision["kind"], "decision");
    assert_eq!(decision["ts"], "2026-11-24T08:00:00.3Z");
    assert_eq!(
        decision["decision"],
        json!({"name": "route-ticket", "question": "which queue?", "chosen": ["billing-queue"],
               "considered": ["billing-queue", "tier1"], "inputs": [{"ticket": 88121}],
               "rejected": [{"id": "tier1", "reason": "refund over $500"}],
               "rationale": "Refunds go to billing.", "model": "claude-sonnet-4-5"})
    );
    assert_eq!(attr(decision, "otel.event.name"), "agentrail.decision");
    assert_eq!(attr(decision, "otel.event.index"), 1);
    assert_eq!(
        attr(decision, "otel.event.attributes")["agentrail.decision.name"],
        "route-ticket"
    );
    assert_eq!(attr(decision, "otel.span.name"), "work");
    assert_eq!(
        events[2]["diff"],
        json!({"system": "zendesk", "resource": "tickets/88121", "op": "update",
               "before": {"group": "triage"}, "after": {"group": "billing"}})
    );
    assert_eq!(events[3]["kind"], "authz.change");
    assert_eq!(
        events[3]["authorization"],
        json!({"decision": "allow", "policy": "policies/drafter.cedar", "permissions": ["crm:read"],
               "granted_by": "okta", "policy_hash": "sha256:ab"})
    );
    assert_eq!(events[3]["reason"], "drafting finished");
    // The exception event is no v1 event; it is kept on the span's events.
    assert_eq!(
        attr(&events[0], "otel.span.events"),
        &json!([{"index": 0, "name": "exception", "time_unix_nano": (T0 + 200 * MS).to_string(),
                 "attributes": {"exception.message": "retry"}}])
    );
}

#[test]
fn span_events_sit_between_session_start_and_end() {
    let mut sp = agent_span(vec![kv("user.id", s("alice"))]);
    sp.events = vec![event("agentrail.decision", 0, decision_attrs())];
    let events = map_one(sp);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["session.start", "decision", "session.end"]);
    assert_eq!(
        events[1]["ts"], events[0]["ts"],
        "no event time: the span's start"
    );
}

#[test]
fn a_malformed_agentrail_span_event_fails_validation_naming_the_field() {
    let cases = [
        (event("agentrail.decision", T0, vec![]), "decision.name"),
        (
            event(
                "agentrail.decision",
                T0,
                vec![kv("agentrail.decision.name", s("x"))],
            ),
            "decision.chosen",
        ),
        (
            event(
                "agentrail.decision",
                T0,
                vec![
                    kv("agentrail.decision.name", s("x")),
                    kv("agentrail.decision.chosen", s("billing-queue")),
                ],
            ),
            "decision.chosen",
        ),
        (
            event(
                "agentrail.diff",
                T0,
                vec![kv("agentrail.diff.resource", s("r"))],
            ),
            "diff.op",
        ),
        (
            event("agentrail.authz", T0, vec![]),
            "authorization.decision",
        ),
    ];
    for (ev, field) in cases {
        let mut sp = span("work", vec![]);
        sp.events = vec![ev];
        let (mapped, _) = map_request(&request(vec![sp]));
        assert_valid(&mapped[0].events[0]);
        let err = validate_client_event(mapped[0].events[1].clone()).unwrap_err();
        assert_eq!(err.field, field);
    }
}

// ---- agentrail.event --------------------------------------------------------------------------

#[test]
fn agentrail_event_replaces_the_span_mapping() {
    let body = r#"{"kind":"decision","decision":{"name":"route","chosen":["billing"]}}"#;
    let mut sp = tool_span(vec![
        kv("gen_ai.tool.name", s("t")),
        kv("agentrail.event", s(body)),
    ]);
    sp.events = vec![event("agentrail.diff", T0, diff_attrs())];
    let events = map_one(sp);
    assert_eq!(
        events.len(),
        2,
        "the explicit event, then the span's own events"
    );
    assert_eq!(events[0]["kind"], "decision");
    assert_eq!(events[0]["event_id"], format!("otlp:{TRACE}:{SPAN}:action"));
    assert_eq!(
        events[0]["decision"],
        json!({"name": "route", "chosen": ["billing"]})
    );
    assert_eq!(attr(&events[0], "agentrail.event"), body);
    assert_eq!(events[1]["kind"], "diff");

    let mut sp = span(
        "x",
        vec![kv(
            "agentrail.event",
            s(r#"{"kind":"session.end","outcome":{"status":"partial"}}"#),
        )],
    );
    sp.events = vec![event("agentrail.diff", T0, diff_attrs())];
    let kinds: Vec<Value> = map_one(sp).iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, ["diff", "session.end"], "a session's end comes last");
}

#[test]
fn agentrail_event_roles_follow_the_kind() {
    let cases = [
        (
            r#"{"kind":"session.end","outcome":{"status":"cancelled"}}"#,
            "end",
            "2026-11-24T08:00:03.93Z",
        ),
        (
            r#"{"kind":"session.start","trigger":{"type":"agent","initiator":"planner"}}"#,
            "start",
            "2026-11-24T08:00:00.12Z",
        ),
        (
            r#"{"kind":"note","note":{"text":"hi"}}"#,
            "action",
            "2026-11-24T08:00:00.12Z",
        ),
    ];
    for (body, role, ts) in cases {
        let mut sp = agent_span(vec![]);
        sp.attributes.push(kv("agentrail.event", s(body)));
        let ev = single(sp);
        assert_eq!(ev["event_id"], format!("otlp:{TRACE}:{SPAN}:{role}"));
        assert_eq!(ev["ts"], ts);
    }
    // A kvlist holding the body works as well as its JSON text.
    let sp = span(
        "x",
        vec![kv(
            "agentrail.event",
            kvlist(vec![
                kv("kind", s("note")),
                kv("note", kvlist(vec![kv("text", s("hi"))])),
            ]),
        )],
    );
    assert_eq!(single(sp)["note"], json!({"text": "hi"}));
}

#[test]
fn an_unusable_agentrail_event_falls_back_to_the_normal_mapping() {
    let cases = [
        ("{not json", "invalid JSON"),
        (r#"["kind"]"#, "must be a JSON object"),
        (r#"{"decision":{}}"#, "'kind' is required"),
        (r#"{"kind":"agentrail.apikey"}"#, "not a v1 client kind"),
        (r#"{"kind":"bogus"}"#, "not a v1 client kind"),
        (
            r#"{"kind":"note","note":{"text":"x"},"session_id":"other"}"#,
            "'session_id' is not a body field",
        ),
        (
            r#"{"kind":"decision","decision":{"name":"x"}}"#,
            "decision.chosen",
        ),
    ];
    for (raw, reason) in cases {
        let ev = single(tool_span(vec![
            kv("gen_ai.tool.name", s("t")),
            kv("agentrail.event", s(raw)),
        ]));
        assert_eq!(ev["kind"], "action");
        assert_eq!(ev["action"]["type"], "tool_call");
        assert_eq!(attr(&ev, "agentrail.event"), raw, "the raw string is kept");
        let error = attr(&ev, "agentrail.event.error").as_str().unwrap();
        assert!(error.contains(reason), "{error:?} lacks {reason:?}");
    }
}

// ---- attributes: nothing is dropped -----------------------------------------------------------

#[test]
fn every_event_carries_the_whole_span() {
    let mut sp = agent_span(vec![kv("user.id", s("alice")), kv("custom", int(5))]);
    sp.kind = SpanKind::Client as i32;
    sp.status = status(StatusCode::Error, "boom");
    sp.trace_state = "vendor=x".into();
    sp.flags = 0x301;
    sp.dropped_attributes_count = 1;
    sp.dropped_events_count = 2;
    sp.dropped_links_count = 3;
    sp.links = vec![Link {
        trace_id: vec![0x11; 16],
        span_id: vec![0x22; 8],
        trace_state: String::new(),
        attributes: vec![kv("link.kind", s("follows"))],
        dropped_attributes_count: 0,
        flags: 1,
    }];
    sp.events = vec![event("agentrail.decision", T0, decision_attrs())];
    let mut req = request_with(
        vec![kv("service.name", s("svc")), kv("host.name", s("runner-1"))],
        vec![sp],
    );
    let rs = &mut req.resource_spans[0];
    rs.schema_url = "https://opentelemetry.io/schemas/1.30.0".into();
    rs.resource.as_mut().unwrap().dropped_attributes_count = 4;
    let scope = rs.scope_spans[0].scope.as_mut().unwrap();
    scope.attributes = vec![kv("scope.attr", boolean(true))];
    for ev in map_in(req) {
        let a = &ev["attributes"];
        assert_eq!(a["otel.span.name"], "invoke_agent drafter");
        assert_eq!(a["otel.span.kind"], "SPAN_KIND_CLIENT");
        assert_eq!(a["otel.status_code"], "ERROR");
        assert_eq!(a["otel.status_description"], "boom");
        assert_eq!(a["otel.span.trace_state"], "vendor=x");
        assert_eq!(a["otel.span.flags"], 0x301);
        assert_eq!(a["otel.span.dropped_attributes_count"], 1);
        assert_eq!(a["otel.span.dropped_events_count"], 2);
        assert_eq!(a["otel.span.dropped_links_count"], 3);
        assert_eq!(
            a["otel.span.start_time_unix_nano"],
            (T0 + 120 * MS).to_string()
        );
        assert_eq!(
            a["otel.span.end_time_unix_nano"],
            (T0 + 3_930 * MS).to_string()
        );
        assert_eq!(
            a["otel.span.links"],
            json!([{"trace_id": "11".repeat(16), "span_id": "22".repeat(8),
                    "attributes": {"link.kind": "follows"}, "flags": 1}])
        );
        assert_eq!(a["otel.scope.name"], "test-scope");
        assert_eq!(a["otel.scope.version"], "1.2.3");
        assert_eq!(a["otel.scope.attributes"], json!({"scope.attr": true}));
        assert_eq!(a["resource.service.name"], "svc");
        assert_eq!(a["resource.host.name"], "runner-1");
        assert_eq!(a["otel.resource.dropped_attributes_count"], 4);
        assert_eq!(
            a["otel.resource.schema_url"],
            "https://opentelemetry.io/schemas/1.30.0"
        );
        assert_eq!(a["gen_ai.operation.name"], "invoke_agent");
        assert_eq!(a["user.id"], "alice");
        assert_eq!(a["custom"], 5);
    }
}

#[test]
fn span_kind_and_status_names() {
    let kinds = [
        (SpanKind::Unspecified as i32, json!("SPAN_KIND_UNSPECIFIED")),
        (SpanKind::Internal as i32, json!("SPAN_KIND_INTERNAL")),
        (SpanKind::Server as i32, json!("SPAN_KIND_SERVER")),
        (SpanKind::Producer as i32, json!("SPAN_KIND_PRODUCER")),
        (SpanKind::Consumer as i32, json!("SPAN_KIND_CONSUMER")),
        (42, json!(42)),
    ];
    for (kind, name) in kinds {
        let mut sp = span("x", vec![]);
        sp.kind = kind;
        assert_eq!(attr(&single(sp), "otel.span.kind"), &name);
    }
    for (st, code) in [
        (None, json!("UNSET")),
        (status(StatusCode::Ok, ""), json!("OK")),
        (
            Some(Status {
                message: String::new(),
                code: 9,
            }),
            json!(9),
        ),
    ] {
        let mut sp = span("x", vec![]);
        sp.status = st;
        let ev = single(sp);
        assert_eq!(attr(&ev, "otel.status_code"), &code);
        assert!(ev["attributes"].get("otel.status_description").is_none());
    }
}

#[test]
fn span_attributes_colliding_with_derived_keys_are_shadowed_not_lost() {
    let ev = single(span(
        "real-name",
        vec![
            kv("otel.span.name", s("fake")),
            kv("agentrail.missing", s("nothing")),
            kv("agentrail.shadowed", int(1)),
            kv("resource.service.name", s("fake-svc")),
        ],
    ));
    assert_eq!(attr(&ev, "otel.span.name"), "real-name");
    assert_eq!(attr(&ev, "resource.service.name"), "drafter-svc");
    assert_eq!(
        attr(&ev, SHADOWED_KEY),
        &json!({"otel.span.name": "fake", "resource.service.name": "fake-svc",
                "agentrail.shadowed": 1})
    );
    // No placeholder in this event, so `agentrail.missing` is the agent's own attribute.
    assert_eq!(attr(&ev, MISSING_KEY), "nothing");
}

// ---- values -----------------------------------------------------------------------------------

#[test]
fn values_without_a_portable_json_form_become_strings() {
    let big = (1_i64 << 53) + 1;
    let ev = single(span(
        "x",
        vec![
            kv("safe.max", int((1 << 53) - 1)),
            kv("safe.min", int(-(1 << 53) + 1)),
            kv("big", int(big)),
            kv("i64.min", int(i64::MIN)),
            kv(
                "bytes",
                av(any_value::Value::BytesValue(vec![0, 1, 254, 255])),
            ),
            kv("nan", dbl(f64::NAN)),
            kv("inf", dbl(f64::INFINITY)),
            kv("ninf", dbl(f64::NEG_INFINITY)),
            kv("huge.double", dbl(1e300)),
            kv("double", dbl(0.25)),
            kv("empty", AnyValue { value: None }),
            KeyValue {
                key: "absent".into(),
                value: None,
                key_strindex: 0,
            },
            kv("bool", boolean(false)),
        ],
    ));
    let a = &ev["attributes"];
    assert_eq!(a["safe.max"], json!(9_007_199_254_740_991_i64));
    assert_eq!(a["safe.min"], json!(-9_007_199_254_740_991_i64));
    assert_eq!(a["big"], "9007199254740993");
    assert_eq!(a["i64.min"], "-9223372036854775808");
    assert_eq!(a["bytes"], "AAH+/w==");
    assert_eq!(a["nan"], "NaN");
    assert_eq!(a["inf"], "Infinity");
    assert_eq!(a["ninf"], "-Infinity");
    assert_eq!(a["huge.double"], "1e300");
    assert_eq!(a["double"], 0.25);
    assert_eq!(a["empty"], Value::Null);
    assert_eq!(a["absent"], Value::Null);
    assert_eq!(a["bool"], false);
}

#[test]
fn arrays_and_kvlists_become_json_and_the_last_duplicate_key_wins() {
    let ev = single(span(
        "x",
        vec![
            kv("dup", s("first")),
            kv("list", arr(vec![s("a"), int(1), arr(vec![])])),
            kv(
                "map",
                kvlist(vec![
                    kv("k", s("old")),
                    kv("k", s("new")),
                    kv("n", kvlist(vec![])),
                ]),
            ),
            kv("dup", s("last")),
        ],
    ));
    assert_eq!(attr(&ev, "dup"), "last");
    assert_eq!(attr(&ev, "list"), &json!(["a", 1, []]));
    assert_eq!(attr(&ev, "map"), &json!({"k": "new", "n": {}}));
}

fn nested(depth: usize) -> AnyValue {
    (0..depth).fold(s("leaf"), |inner, _| kvlist(vec![kv("k", inner)]))
}

#[test]
fn deep_values_are_kept_as_json_text_so_the_event_stays_valid() {
    for depth in [VALUE_LEVELS - 1, VALUE_LEVELS, VALUE_LEVELS + 1, 300] {
        let mut sp = span("x", vec![kv("deep", nested(depth))]);
        sp.links = vec![Link {
            trace_id: vec![0x11; 16],
            span_id: vec![0x22; 8],
            attributes: vec![kv("deep", nested(depth))],
            ..Default::default()
        }];
        let ev = single(sp);
        let value = attr(&ev, "deep");
        let mut cursor = value;
        let mut levels = 0;
        while let Some(inner) = cursor.get("k") {
            cursor = inner;
            levels += 1;
        }
        if depth <= VALUE_LEVELS {
            assert_eq!((levels, cursor), (depth, &json!("leaf")));
        } else {
            assert_eq!(levels, VALUE_LEVELS);
            let text = cursor.as_str().expect("the too-deep rest as text");
            let rest = text.matches(r#"{"k":"#).count();
            assert_eq!(levels + rest, depth, "nothing lost");
            assert!(text.contains(r#"{"k":"leaf"}"#));
        }
    }
}

// ---- determinism ------------------------------------------------------------------------------

#[test]
fn mapping_is_deterministic() {
    let req = built_fixture();
    let (a, ua) = map_request(&req);
    let (b, ub) = map_request(&req);
    assert!(ua.is_empty() && ub.is_empty());
    let events = |m: &[MappedSpan]| m.iter().flat_map(|s| s.events.clone()).collect::<Vec<_>>();
    assert_eq!(events(&a), events(&b));
    // The content hash (what makes a retried export a duplicate) is equal too.
    for (x, y) in events(&a).into_iter().zip(events(&b)) {
        let (x, y) = (
            validate_client_event(x).unwrap(),
            validate_client_event(y).unwrap(),
        );
        assert_eq!(x.content_hash, y.content_hash);
    }
    // Each span maps the same whatever else is in the request.
    for (i, span) in req.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .enumerate()
    {
        let mut alone = req.clone();
        alone.resource_spans[0].scope_spans[0].spans = vec![span.clone()];
        assert_eq!(map_request(&alone).0[0].events, a[i].events);
    }
}

// ---- the fixture: a GenAI agent run -----------------------------------------------------------

const FIXTURE: &str = include_str!("../../tests/fixtures/otlp/agent_run.json");

fn built_fixture() -> ExportTraceServiceRequest {
    let sess = || kv("agentrail.session.id", s("sess-47892-renewals"));
    let child =
        |id: &str, name: &str, kind: SpanKind, start: u64, end: u64, attrs: Vec<KeyValue>| {
            let mut attributes = vec![sess()];
            attributes.extend(attrs);
            Span {
                parent_span_id: bytes_of("00f067aa0ba902b7"),
                kind: kind as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                ..span_with(id, name, attributes)
            }
        };
    let chat = Span {
        status: Some(Status::default()),
        ..child(
            "00f067aa0ba902c1",
            "chat claude-sonnet-4-5",
            SpanKind::Client,
            T0 + 1_000 * MS,
            T0 + 4_810 * MS,
            vec![
                kv("gen_ai.operation.name", s("chat")),
                kv("gen_ai.provider.name", s("anthropic")),
                kv("gen_ai.request.model", s("claude-sonnet-4-5")),
                kv("gen_ai.response.model", s("claude-sonnet-4-5-20250929")),
                kv("gen_ai.conversation.id", s("conv-47892")),
                kv("gen_ai.usage.input_tokens", int(2174)),
                kv("gen_ai.usage.output_tokens", int(412)),
                kv("gen_ai.request.temperature", dbl(0.2)),
                kv("gen_ai.response.finish_reasons", strs(&["tool_use"])),
            ],
        )
    };
    let retrieval = Span {
        status: status(StatusCode::Ok, ""),
        ..child(
            "00f067aa0ba902c3",
            "retrieval contracts-index",
            SpanKind::Client,
            T0 + 5_000 * MS,
            T0 + 5_250_500_000,
            vec![
                kv("gen_ai.operation.name", s("retrieval")),
                kv("gen_ai.data_source.id", s("contracts-index")),
                kv(
                    "gen_ai.retrieval.query.text",
                    s("enterprise contracts renewing in Q1"),
                ),
            ],
        )
    };
    let http = Span {
        parent_span_id: bytes_of("00f067aa0ba902c2"),
        ..child(
            "00f067aa0ba902c4",
            "GET",
            SpanKind::Client,
            T0 + 6_100 * MS,
            T0 + 7_900 * MS,
            vec![
                kv("http.request.method", s("GET")),
                kv(
                    "url.full",
                    s("https://crm.internal.example/v2/accounts?segment=enterprise"),
                ),
                kv("http.response.status_code", int(200)),
            ],
        )
    };
    let tool = Span {
        status: status(StatusCode::Ok, ""),
        ..child(
            "00f067aa0ba902c2",
            "execute_tool crm.search",
            SpanKind::Internal,
            T0 + 6_000 * MS,
            T0 + 8_000 * MS,
            vec![
                kv("gen_ai.operation.name", s("execute_tool")),
                kv("gen_ai.tool.name", s("crm.search")),
                kv("gen_ai.tool.call.id", s("toolu_01A9")),
                kv("gen_ai.tool.type", s("function")),
                kv(
                    "gen_ai.tool.call.arguments",
                    s(r#"{"segment":"enterprise","limit":10}"#),
                ),
            ],
        )
    };
    let agent = Span {
        parent_span_id: Vec::new(),
        status: status(StatusCode::Ok, ""),
        events: vec![event(
            "agentrail.decision",
            T0 + 2_000 * MS,
            vec![
                kv("agentrail.decision.name", s("select-customers")),
                kv(
                    "agentrail.decision.question",
                    s("which customers get a renewal email?"),
                ),
                kv("agentrail.decision.chosen", strs(&["globex", "initech"])),
                kv(
                    "agentrail.decision.considered",
                    strs(&["globex", "initech", "umbrella"]),
                ),
                kv(
                    "agentrail.decision.rejected",
                    s(r#"[{"id":"umbrella","reason":"contract already renewed"}]"#),
                ),
                kv(
                    "agentrail.decision.rationale",
                    s("Top accounts by ARR whose contracts end in Q1."),
                ),
            ],
        )],
        ..child(
            SPAN,
            "invoke_agent renewal-drafter",
            SpanKind::Internal,
            T0 + 120 * MS,
            T0 + 29_500 * MS + 7,
            vec![
                kv("agentrail.principal", s("svc-renewal-drafter")),
                kv("agentrail.request.id", s("47892")),
                kv("gen_ai.operation.name", s("invoke_agent")),
                kv("gen_ai.agent.id", s("agt-renewal-drafter-v3")),
                kv("gen_ai.agent.name", s("renewal-drafter")),
                kv("gen_ai.conversation.id", s("conv-47892")),
                kv("user.id", s("alice@acme.example")),
            ],
        )
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("renewal-drafter")),
                    kv("service.version", s("3.1.0")),
                    kv("telemetry.sdk.language", s("python")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.openai_agents".into(),
                    version: "0.1.0".into(),
                    ..Default::default()
                }),
                // Children first: exporters send a span when it ends.
                spans: vec![chat, retrieval, http, tool, agent],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn fixture_protobuf_and_json_decode_to_the_same_request() {
    let built = built_fixture();
    let from_proto = decode_protobuf(&built.encode_to_vec()).unwrap();
    assert_eq!(from_proto, built);
    let from_json = decode_json(FIXTURE.as_bytes()).unwrap();
    assert_eq!(from_json, built);
}

#[test]
fn fixture_maps_to_a_valid_agent_run() {
    let (mapped, unmappable) = map_request(&decode_json(FIXTURE.as_bytes()).unwrap());
    assert!(unmappable.is_empty());
    let mut summary = Vec::new();
    for span in &mapped {
        for ev in &span.events {
            assert_valid(ev);
            assert_eq!(ev["session_id"], "sess-47892-renewals");
            let role = ev["event_id"].as_str().unwrap().rsplit(':').next().unwrap();
            let what = ev["action"]["type"].as_str().unwrap_or("");
            summary.push(format!(
                "{} {} {role} {what}",
                span.span_id,
                ev["kind"].as_str().unwrap()
            ));
        }
    }
    assert_eq!(
        summary,
        [
            "00f067aa0ba902c1 action action model_call",
            "00f067aa0ba902c3 action action query",
            "00f067aa0ba902c4 action action state_change",
            "00f067aa0ba902c2 action action tool_call",
            "00f067aa0ba902b7 session.start start ",
            "00f067aa0ba902b7 decision e0 ",
            "00f067aa0ba902b7 session.end end ",
        ]
    );
    let agent = &mapped[4].events;
    assert_eq!(agent[0]["agent_id"], "agt-renewal-drafter-v3");
    assert_eq!(agent[0]["principal"], "svc-renewal-drafter");
    assert_eq!(
        agent[0]["trigger"],
        json!({"type": "user", "initiator": "alice@acme.example", "request_id": "47892"})
    );
    assert_eq!(agent[1]["decision"]["rejected"][0]["id"], "umbrella");
    assert_eq!(agent[2]["ts"], "2026-11-24T08:00:29.500000007Z");
    // Children name the service until reconstruction resolves the agent from invoke_agent.
    assert_eq!(mapped[0].events[0]["agent_id"], "service:renewal-drafter");
    assert_eq!(mapped[0].events[0]["parent_span_id"], SPAN);
    assert_eq!(
        mapped[0].events[0]["attributes"]["agentrail.conversation.id"],
        "conv-47892"
    );
    assert_eq!(mapped[2].events[0]["parent_span_id"], "00f067aa0ba902c2");
    assert_eq!(
        mapped[3].events[0]["action"]["params"],
        json!({"segment": "enterprise", "limit": 10})
    );
}

// ---- decoding ---------------------------------------------------------------------------------

fn one_span_doc(span_fields: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{TRACE}","spanId":"{SPAN}",{span_fields}}}]}}]}}]}}"#
    )
}

fn attr_doc(value: &str) -> String {
    one_span_doc(&format!(r#""attributes":[{{"key":"a","value":{value}}}]"#))
}

fn decoded_span(doc: &str) -> Span {
    let req = decode_json(doc.as_bytes()).unwrap_or_else(|e| panic!("{e}: {doc}"));
    req.resource_spans[0].scope_spans[0].spans[0].clone()
}

fn decoded_value(value: &str) -> Option<any_value::Value> {
    decoded_span(&attr_doc(value)).attributes[0]
        .value
        .clone()
        .and_then(|v| v.value)
}

#[test]
fn json_any_values() {
    use any_value::Value as V;
    let cases: Vec<(&str, Option<V>)> = vec![
        (r#"{"stringValue":"x"}"#, Some(V::StringValue("x".into()))),
        (r#"{"boolValue":true}"#, Some(V::BoolValue(true))),
        (
            r#"{"intValue":"9223372036854775807"}"#,
            Some(V::IntValue(i64::MAX)),
        ),
        (r#"{"intValue":-12}"#, Some(V::IntValue(-12))),
        (r#"{"intValue":"-12"}"#, Some(V::IntValue(-12))),
        (r#"{"doubleValue":1.5}"#, Some(V::DoubleValue(1.5))),
        (r#"{"doubleValue":3}"#, Some(V::DoubleValue(3.0))),
        (
            r#"{"doubleValue":"Infinity"}"#,
            Some(V::DoubleValue(f64::INFINITY)),
        ),
        (
            r#"{"doubleValue":"-Infinity"}"#,
            Some(V::DoubleValue(f64::NEG_INFINITY)),
        ),
        (r#"{"doubleValue":"2.5"}"#, Some(V::DoubleValue(2.5))),
        (
            r#"{"bytesValue":"AAH+/w=="}"#,
            Some(V::BytesValue(vec![0, 1, 254, 255])),
        ),
        (
            r#"{"bytesValue":"AAH-_w"}"#,
            Some(V::BytesValue(vec![0, 1, 254, 255])),
        ),
        (
            r#"{"arrayValue":{}}"#,
            Some(V::ArrayValue(ArrayValue::default())),
        ),
        (
            r#"{"kvlistValue":{}}"#,
            Some(V::KvlistValue(KeyValueList::default())),
        ),
        (
            r#"{"arrayValue":{"values":[{"stringValue":"x"},{}]}}"#,
            Some(V::ArrayValue(ArrayValue {
                values: vec![s("x"), AnyValue { value: None }],
            })),
        ),
        (
            r#"{"kvlistValue":{"values":[{"key":"k","value":{"intValue":"1"}},{"value":{}}]}}"#,
            Some(V::KvlistValue(KeyValueList {
                values: vec![kv("k", int(1)), kv("", AnyValue { value: None })],
            })),
        ),
        (r#"{}"#, None),
        (r#"{"stringValue":null}"#, None),
        (r#"{"futureValue":1}"#, None),
    ];
    for (json, expected) in cases {
        assert_eq!(decoded_value(json), expected, "{json}");
    }
    match decoded_value(r#"{"doubleValue":"NaN"}"#) {
        Some(V::DoubleValue(d)) => assert!(d.is_nan()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_span_fields() {
    let sp = decoded_span(&one_span_doc(
        r#""traceState":"a=b","parentSpanId":"00F067AA0BA902B8","flags":"257","name":"n",
           "kind":"SPAN_KIND_SERVER","startTimeUnixNano":1795507200000000001,
           "endTimeUnixNano":"1795507200000000002","droppedAttributesCount":"1",
           "events":null,"droppedEventsCount":2,"links":[{"traceId":"","spanId":"0102030405060708",
           "flags":1,"attributes":[]}],"droppedLinksCount":3,
           "status":{"code":"STATUS_CODE_ERROR","message":"m"},"unknownField":{"x":[1]}"#,
    ));
    let expected = Span {
        trace_id: bytes_of(TRACE),
        span_id: bytes_of(SPAN),
        trace_state: "a=b".into(),
        parent_span_id: bytes_of("00f067aa0ba902b8"),
        flags: 257,
        name: "n".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: T0 + 1,
        end_time_unix_nano: T0 + 2,
        dropped_attributes_count: 1,
        dropped_events_count: 2,
        links: vec![Link {
            span_id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            flags: 1,
            ..Default::default()
        }],
        dropped_links_count: 3,
        status: status(StatusCode::Error, "m"),
        ..Default::default()
    };
    assert_eq!(sp, expected);
    assert_eq!(decoded_span(&one_span_doc(r#""kind":2"#)).kind, 2);
}

#[test]
fn json_errors_name_the_field() {
    let cases = [
        ("[]".to_string(), "expected a JSON object"),
        ("{".to_string(), "not JSON"),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#.into(),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: expected a string of hex digits",
        ),
        (
            one_span_doc(r#""startTimeUnixNano":"-1""#),
            "spans[0].startTimeUnixNano: expected an unsigned 64-bit integer",
        ),
        (
            one_span_doc(r#""startTimeUnixNano":1.5"#),
            "startTimeUnixNano: expected an unsigned 64-bit integer",
        ),
        (
            one_span_doc(r#""droppedAttributesCount":4294967296"#),
            "droppedAttributesCount: expected an unsigned 32-bit integer",
        ),
        (
            one_span_doc(r#""kind":"SERVER""#),
            "kind: expected an enum value",
        ),
        (
            one_span_doc(r#""events":{}"#),
            "spans[0].events: expected an array",
        ),
        (
            attr_doc(r#"{"stringValue":"x","intValue":1}"#),
            "attributes[0].value: an AnyValue may set only one of its fields",
        ),
        (
            attr_doc(r#"{"intValue":"9223372036854775808"}"#),
            "value.intValue: expected a signed 64-bit integer",
        ),
        (
            attr_doc(r#"{"doubleValue":"1e400"}"#),
            "value.doubleValue: expected a number",
        ),
        (
            attr_doc(r#"{"bytesValue":"!!"}"#),
            "value.bytesValue: expected base64",
        ),
        (
            attr_doc(r#"{"boolValue":1}"#),
            "value.boolValue: expected true or false",
        ),
    ];
    for (doc, expected) in cases {
        let err = decode_json(doc.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(expected), "{err:?} lacks {expected:?}");
    }
}

#[test]
fn json_empty_and_null_requests_decode() {
    assert_eq!(
        decode_json(b"{}").unwrap(),
        ExportTraceServiceRequest::default()
    );
    assert_eq!(
        decode_json(br#"{"resourceSpans":null}"#).unwrap(),
        ExportTraceServiceRequest::default()
    );
}

/// Why the decoder is ours: opentelemetry-proto's serde derive rejects each of these valid
/// OTLP/JSON documents. If this test starts failing, the dependency has caught up and
/// `decode_json` could delegate to it.
#[test]
fn opentelemetry_proto_serde_rejects_valid_otlp_json() {
    let docs = [
        attr_doc(r#"{"arrayValue":{}}"#),
        attr_doc(r#"{"kvlistValue":{}}"#),
        attr_doc(r#"{"doubleValue":"NaN"}"#),
        attr_doc(r#"{"bytesValue":"AAH-_w"}"#),
        one_span_doc(r#""attributes":[{"value":{"stringValue":"x"}}]"#),
        one_span_doc(r#""events":null"#),
        one_span_doc(r#""droppedAttributesCount":"1""#),
    ];
    for doc in docs {
        assert!(decode_json(doc.as_bytes()).is_ok(), "{doc}");
        let serde: Result<ExportTraceServiceRequest, _> = serde_json::from_str(&doc);
        assert!(serde.is_err(), "serde now accepts {doc}");
    }
    // Where both accept a document, they agree.
    let serde: ExportTraceServiceRequest = serde_json::from_str(FIXTURE).unwrap();
    assert_eq!(serde, decode_json(FIXTURE.as_bytes()).unwrap());
}

#[test]
fn protobuf_garbage_is_a_decode_error() {
    let err = decode_protobuf(&[0x0a, 0xff]).unwrap_err();
    assert!(matches!(err, OtlpError::Decode(_)));
    assert!(err.to_string().starts_with("invalid OTLP trace request"));
}

// ---- the document -----------------------------------------------------------------------------

/// `docs/otlp.md` names every `agentrail.*` attribute a span event's body is read from: the list
/// comes from the v1 schema tables, so a new body field cannot go undocumented.
#[test]
fn docs_name_every_span_event_attribute() {
    let doc = include_str!("../../../../docs/otlp.md");
    for (kind, prefix) in [
        ("decision", "agentrail.decision."),
        ("diff", "agentrail.diff."),
        ("authz.change", "agentrail.authz."),
    ] {
        for f in schema::kind_spec(kind).unwrap().fields {
            let names: Vec<&str> = match f.ty {
                Ty::Object(inner) => inner.iter().map(|g| g.name).collect(),
                _ => vec![f.name],
            };
            for name in names {
                let attr = format!("`{prefix}{name}`");
                assert!(doc.contains(&attr), "docs/otlp.md does not name {attr}");
            }
        }
    }
}
