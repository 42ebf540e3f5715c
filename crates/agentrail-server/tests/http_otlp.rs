//! `POST /v1/traces` through the router (binary protobuf and OTLP/JSON, gzip, partial success,
//! retries), and redaction before storage on both ingest paths.

mod common;

use agentrail_server::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use agentrail_server::serve::ServeOptions;
use axum::http::{header, StatusCode};
use common::*;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use serde_json::{json, Value};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ZERO_TRACE: &str = "00000000000000000000000000000000";
const AGENT_SPAN: &str = "00f067aa0ba902b7";
const TOOL_SPAN: &str = "00f067aa0ba902c2";
const CHAT_SPAN: &str = "00f067aa0ba902c1";
const BAD_SPAN: &str = "00f067aa0ba902ff";
const T0: u64 = 1_795_507_200_000_000_000;
const SECRET_KEY: &str = "sk-live-4eC39HqLyjWDarjtT1zdp7dc";

/// One span, described once and encoded both as protobuf and as OTLP/JSON.
struct SpanSpec {
    trace: &'static str,
    span: &'static str,
    parent: Option<&'static str>,
    name: &'static str,
    start: u64,
    end: u64,
    attrs: Vec<(&'static str, Attr)>,
}

enum Attr {
    S(String),
    I(i64),
}

fn s(v: &str) -> Attr {
    Attr::S(v.into())
}

fn spans(tool_arguments: &str) -> Vec<SpanSpec> {
    vec![
        SpanSpec {
            trace: TRACE,
            span: AGENT_SPAN,
            parent: None,
            name: "invoke_agent renewal-drafter",
            start: T0,
            end: T0 + 9_000_000_000,
            attrs: vec![
                ("gen_ai.operation.name", s("invoke_agent")),
                ("gen_ai.agent.name", s("renewal-drafter")),
                ("user.id", s("alice@acme.example")),
            ],
        },
        SpanSpec {
            trace: TRACE,
            span: TOOL_SPAN,
            parent: Some(AGENT_SPAN),
            name: "execute_tool crm.search",
            start: T0 + 6_000_000_000,
            end: T0 + 8_000_000_000,
            attrs: vec![
                ("gen_ai.operation.name", s("execute_tool")),
                ("gen_ai.agent.name", s("renewal-drafter")),
                ("gen_ai.tool.name", s("crm.search")),
                ("gen_ai.tool.call.arguments", s(tool_arguments)),
            ],
        },
        SpanSpec {
            trace: TRACE,
            span: CHAT_SPAN,
            parent: Some(AGENT_SPAN),
            name: "chat claude-sonnet-4-5",
            start: T0 + 1_000_000_000,
            end: T0 + 4_810_000_000,
            attrs: vec![
                ("gen_ai.operation.name", s("chat")),
                ("gen_ai.agent.name", s("renewal-drafter")),
                ("gen_ai.provider.name", s("anthropic")),
                ("gen_ai.request.model", s("claude-sonnet-4-5")),
                ("gen_ai.usage.input_tokens", Attr::I(2174)),
                ("gen_ai.usage.output_tokens", Attr::I(412)),
            ],
        },
        SpanSpec {
            trace: ZERO_TRACE,
            span: BAD_SPAN,
            parent: None,
            name: "orphan",
            start: T0,
            end: T0 + 1,
            attrs: vec![("gen_ai.operation.name", s("chat"))],
        },
    ]
}

fn args() -> String {
    json!({"api_key": SECRET_KEY, "query": "x"}).to_string()
}

fn hex(h: &str) -> Vec<u8> {
    agentrail_core::hash::from_hex(h).expect("hex")
}

fn protobuf(specs: &[SpanSpec]) -> Vec<u8> {
    let kv = |k: &str, v: &Attr| KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(match v {
                Attr::S(s) => any_value::Value::StringValue(s.clone()),
                Attr::I(i) => any_value::Value::IntValue(*i),
            }),
        }),
        ..KeyValue::default()
    };
    let spans = specs
        .iter()
        .map(|sp| Span {
            trace_id: hex(sp.trace),
            span_id: hex(sp.span),
            parent_span_id: sp.parent.map(hex).unwrap_or_default(),
            name: sp.name.into(),
            kind: 1,
            start_time_unix_nano: sp.start,
            end_time_unix_nano: sp.end,
            attributes: sp.attrs.iter().map(|(k, v)| kv(k, v)).collect(),
            ..Span::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", &s("renewal-drafter"))],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
    .encode_to_vec()
}

fn otlp_json(specs: &[SpanSpec]) -> Value {
    let kv = |k: &str, v: &Attr| match v {
        Attr::S(s) => json!({"key": k, "value": {"stringValue": s}}),
        Attr::I(i) => json!({"key": k, "value": {"intValue": i.to_string()}}),
    };
    let spans: Vec<Value> = specs
        .iter()
        .map(|sp| {
            let mut o = json!({
                "traceId": sp.trace,
                "spanId": sp.span,
                "name": sp.name,
                "kind": 1,
                "startTimeUnixNano": sp.start.to_string(),
                "endTimeUnixNano": sp.end.to_string(),
                "attributes": sp.attrs.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>(),
            });
            if let Some(p) = sp.parent {
                o["parentSpanId"] = p.into();
            }
            o
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [kv("service.name", &s("renewal-drafter"))]},
        "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
    }]})
}

fn id(trace: &str, span: &str, role: &str) -> String {
    format!("otlp:{trace}:{span}:{role}")
}

async fn export_protobuf(server: &Server, body: Vec<u8>) -> ExportTraceServiceResponse {
    let r = server
        .send(post("/v1/traces").body("application/x-protobuf", body))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(
        r.header(header::CONTENT_TYPE),
        Some("application/x-protobuf")
    );
    ExportTraceServiceResponse::decode(r.body.as_slice()).expect("a protobuf response")
}

#[track_caller]
fn assert_one_rejected(resp: &ExportTraceServiceResponse) {
    let p = resp.partial_success.as_ref().expect("partial_success");
    assert_eq!(p.rejected_spans, 1, "{}", p.error_message);
    assert!(
        p.error_message
            .contains(&format!("span {ZERO_TRACE}:{BAD_SPAN}")),
        "the message names the span: {}",
        p.error_message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn protobuf_export_maps_spans_and_a_retry_appends_nothing() {
    let server = Server::start(ServeOptions::default());
    let body = protobuf(&spans(&args()));
    let resp = export_protobuf(&server, body.clone()).await;
    assert_one_rejected(&resp);
    assert_eq!(server.tree_size(), 4);

    let again = export_protobuf(&server, body.clone()).await;
    assert_one_rejected(&again);
    assert_eq!(server.tree_size(), 4, "a retried export appends nothing");

    // Gzip, and the same spans once more: still nothing new.
    let r = server
        .send(
            post("/v1/traces")
                .body("application/x-protobuf", body)
                .gzip(),
        )
        .await
        .expect_status(StatusCode::OK);
    assert_one_rejected(&ExportTraceServiceResponse::decode(r.body.as_slice()).unwrap());
    assert_eq!(server.tree_size(), 4);

    let text = server.metrics().await;
    assert_eq!(metric(&text, "agentrail_otlp_spans_received_total"), 12.0);
    assert_eq!(metric(&text, "agentrail_otlp_spans_rejected_total"), 3.0);
    assert_eq!(metric(&text, "agentrail_events_accepted_total"), 4.0);
    assert_eq!(metric(&text, "agentrail_events_duplicate_total"), 8.0);

    let store = server.finish().await;
    assert_eq!(store.size(), 4);
    let start = store.event(&id(TRACE, AGENT_SPAN, "start"));
    assert_eq!(start["kind"], "session.start");
    assert_eq!(start["source"], "otlp");
    assert_eq!(start["agent_id"], "renewal-drafter");
    assert_eq!(
        start["body"]["trigger"],
        json!({"type": "user", "initiator": "alice@acme.example"})
    );
    let end = store.event(&id(TRACE, AGENT_SPAN, "end"));
    assert_eq!(end["kind"], "session.end");
    assert_eq!(end["body"]["outcome"]["status"], "succeeded");
    let tool = store.event(&id(TRACE, TOOL_SPAN, "action"));
    assert_eq!(tool["body"]["action"]["type"], "tool_call");
    assert_eq!(tool["body"]["action"]["system"], "crm.search");
    let chat = store.event(&id(TRACE, CHAT_SPAN, "action"));
    assert_eq!(chat["body"]["action"]["type"], "model_call");
    assert_eq!(
        chat["body"]["action"]["tokens"],
        json!({"input": 2174, "output": 412})
    );
    assert_eq!(store.event_text(&id(ZERO_TRACE, BAD_SPAN, "action")), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_json_gets_a_json_response_and_maps_like_protobuf() {
    let server = Server::start(ServeOptions::default());
    let all = spans(&args());
    let r = server
        .send(post("/v1/traces").json(&otlp_json(&all)))
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(r.header(header::CONTENT_TYPE), Some("application/json"));
    assert_json(
        &r.json(),
        &json!({"partialSuccess": {"rejectedSpans": "1", "errorMessage": ANY}}),
    );
    assert!(r.text().contains(&format!("span {ZERO_TRACE}:{BAD_SPAN}")));
    assert_eq!(server.tree_size(), 4);

    // All spans accepted: `{}`. The same spans as protobuf are duplicates: the two encodings map
    // to the same events.
    let good: Vec<SpanSpec> = all.into_iter().filter(|s| s.trace == TRACE).collect();
    let r = server
        .send(post("/v1/traces").json(&otlp_json(&good)).gzip())
        .await
        .expect_status(StatusCode::OK);
    assert_eq!(r.json(), json!({}));
    let resp = export_protobuf(&server, protobuf(&good)).await;
    assert_eq!(resp, ExportTraceServiceResponse::default());
    assert_eq!(server.tree_size(), 4);

    let store = server.finish().await;
    assert_eq!(store.size(), 4);
    for role_span in [
        (AGENT_SPAN, "start"),
        (AGENT_SPAN, "end"),
        (TOOL_SPAN, "action"),
        (CHAT_SPAN, "action"),
    ] {
        assert!(store
            .event_text(&id(TRACE, role_span.0, role_span.1))
            .is_some());
    }
}

/// OTLP/HTTP failures carry a google.rpc.Status in the request's encoding (protobuf unless the
/// request was JSON).
fn expect_rpc_status(r: Reply, status: StatusCode, code: i32, json: bool) -> String {
    let r = r.expect_status(status);
    if json {
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["code"], code, "{v}");
        v["message"].as_str().unwrap().to_string()
    } else {
        assert_eq!(
            r.header(header::CONTENT_TYPE),
            Some("application/x-protobuf")
        );
        let s = agentrail_server::otlp_http::RpcStatus::decode(&r.body[..]).unwrap();
        assert_eq!(s.code, code, "{s:?}");
        s.message
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn otlp_refuses_other_media_types_and_undecodable_bodies() {
    let server = Server::start(ServeOptions::default());
    let m = expect_rpc_status(
        server
            .send(post("/v1/traces").body("text/plain", "hello"))
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        3,
        false,
    );
    assert!(m.contains("application/x-protobuf"), "{m}");
    expect_rpc_status(
        server.send(post("/v1/traces")).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        3,
        false,
    );
    expect_rpc_status(
        server
            .send(post("/v1/traces").body("application/x-protobuf", vec![0xffu8; 16]))
            .await,
        StatusCode::BAD_REQUEST,
        3,
        false,
    );
    expect_rpc_status(
        server
            .send(post("/v1/traces").body("application/json", "{\"resourceSpans\":"))
            .await,
        StatusCode::BAD_REQUEST,
        3,
        true,
    );
    expect_rpc_status(
        server
            .send(
                post("/v1/traces")
                    .body("application/x-protobuf", protobuf(&spans(&args())))
                    .header(header::CONTENT_ENCODING, "br"),
            )
            .await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        3,
        false,
    );
    let store = server.finish().await;
    assert_eq!(store.size(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_redacted_before_storage() {
    let server = Server::start(ServeOptions::default());
    let redactor = server.redactor();
    let token = "abcdefghijklmnopqrstuvwxyz012345";
    let mut ev = action(Some("r1"), "a1");
    ev["attributes"] = json!({
        "password": "hunter2",
        "note": format!("Authorization: Bearer {token}"),
    });
    server
        .post_events(None, &json!([ev]))
        .await
        .expect_status(StatusCode::OK);
    let good: Vec<SpanSpec> = spans(&args())
        .into_iter()
        .filter(|s| s.span == TOOL_SPAN)
        .collect();
    let resp = export_protobuf(&server, protobuf(&good)).await;
    assert_eq!(resp, ExportTraceServiceResponse::default());
    let text = server.metrics().await;
    // password by name, the bearer token by pattern; the key in `params` by name and in the
    // attribute's JSON text by pattern.
    assert_eq!(metric(&text, "agentrail_redactions_total"), 4.0);

    let store = server.finish().await;
    let native = store.event_text("r1").unwrap();
    assert!(!native.contains("hunter2"), "{native}");
    assert!(!native.contains(token), "{native}");
    assert!(native.contains(&redactor.hmac("hunter2")), "{native}");
    assert!(native.contains(&redactor.hmac(token)), "{native}");
    let stored = store.event(&id(TRACE, TOOL_SPAN, "action"));
    let tool = stored.to_string();
    assert!(!tool.contains(SECRET_KEY), "{tool}");
    assert!(!tool.contains(&SECRET_KEY[8..]), "{tool}");
    assert!(tool.contains("hmac-sha256:"), "{tool}");
    assert_eq!(stored["body"]["action"]["params"]["query"], "x");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_named_inside_a_json_string_attribute_is_redacted() {
    // Tool arguments arrive as a JSON string (GenAI conventions). A value that no pattern
    // recognizes is a secret by its name only: it must be redacted wherever the event keeps it.
    let server = Server::start(ServeOptions::default());
    let arguments = json!({"password": "hunter2", "query": "x"}).to_string();
    let good: Vec<SpanSpec> = spans(&arguments)
        .into_iter()
        .filter(|s| s.span == TOOL_SPAN)
        .collect();
    let resp = export_protobuf(&server, protobuf(&good)).await;
    assert_eq!(resp, ExportTraceServiceResponse::default());
    let store = server.finish().await;
    let stored = store.event_text(&id(TRACE, TOOL_SPAN, "action")).unwrap();
    assert!(
        !stored.contains("hunter2"),
        "a password is stored in the clear: {stored}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bound_key_and_the_span_limit_apply_to_otlp() {
    let server = Server::start(ServeOptions {
        limits: agentrail_server::Limits {
            max_events_per_request: 3,
            ..agentrail_server::Limits::default()
        },
        ..ServeOptions::default()
    });
    let (key, _) = server.create_key(None, "ingest", Some("a1")).await;
    let good: Vec<SpanSpec> = spans(&args())
        .into_iter()
        .filter(|s| s.trace == TRACE)
        .collect();
    let r = server
        .send(
            post("/v1/traces")
                .body("application/x-protobuf", protobuf(&good))
                .bearer(&key),
        )
        .await
        .expect_status(StatusCode::OK);
    let resp = ExportTraceServiceResponse::decode(r.body.as_slice()).unwrap();
    let p = resp.partial_success.expect("partial_success");
    assert_eq!(p.rejected_spans, 3, "{}", p.error_message);
    assert!(p.error_message.contains("forbidden"), "{}", p.error_message);
    assert_unauthorized_otlp(
        server
            .send(post("/v1/traces").body("application/x-protobuf", protobuf(&good)))
            .await,
    );
    let text = server.metrics().await;
    assert_eq!(
        metric(
            &text,
            "agentrail_events_rejected_total{code=\"forbidden_agent\"}"
        ),
        // Events, not spans: the invoke_agent span maps to a start and an end event.
        4.0
    );
    // Four spans in one request, over the limit of three.
    expect_rpc_status(
        server
            .send(
                post("/v1/traces")
                    .body("application/x-protobuf", protobuf(&spans(&args())))
                    .bearer(&key),
            )
            .await,
        StatusCode::PAYLOAD_TOO_LARGE,
        3,
        false,
    );
    let store = server.finish().await;
    // Only the key's own record.
    assert_eq!(store.size(), 1);
}

#[track_caller]
fn assert_unauthorized_otlp(r: Reply) {
    assert_eq!(r.header(header::WWW_AUTHENTICATE), Some("Bearer"));
    expect_rpc_status(r, StatusCode::UNAUTHORIZED, 16, false);
}
