//! The demo's second kind of agent: `contract-summarizer`, instrumented with OpenTelemetry. Its one
//! run on 2026-11-24 is built here as the OTLP trace an SDK would export (the GenAI conventions
//! plus agentrail's `agentrail.*` attributes, docs/otlp.md): an `invoke_agent` span with an
//! `agentrail.decision` span event, and two child spans, an `execute_tool` that reads the
//! contract and a `chat` that summarizes it.
//!
//! Every id and time is fixed, so a second run of the demo exports exact duplicates. As real
//! exporters do, the children (which end first) go in one export and their parent in the next.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

pub const AGENT: &str = "contract-summarizer";
const SESSION_ID: &str = "sess-cs-legal-2291";
/// The run's trace; the events are `otlp:<TRACE_ID>:<span id>:<role>` (docs/otlp.md).
const TRACE_ID: [u8; 16] = [
    0x5e, 0x0c, 0x2a, 0x7b, 0x9d, 0x1f, 0x4e, 0x3a, 0x8c, 0x6b, 0x0d, 0x2f, 0x4a, 0x6c, 0x8e, 0x10,
];
const ROOT_SPAN: [u8; 8] = [0xc0, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x01];
const TOOL_SPAN: [u8; 8] = [0xc0, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x02];
const CHAT_SPAN: [u8; 8] = [0xc0, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x03];
/// 2026-11-24T11:30:00Z, in Unix nanoseconds.
const T0: u64 = 1_795_519_800_000_000_000;
const MS: u64 = 1_000_000;

/// One export of the run, and what it carries in words.
#[derive(Debug)]
pub struct Export {
    pub what: &'static str,
    pub request: ExportTraceServiceRequest,
}

/// The run's exports, in the order an SDK sends them: the child spans, then the root span.
pub fn exports() -> Vec<Export> {
    vec![
        Export {
            what: "the child spans execute_tool and chat",
            request: request(vec![tool_span(), chat_span()]),
        },
        Export {
            what: "the parent span invoke_agent (with an agentrail.decision event)",
            request: request(vec![root_span()]),
        },
    ]
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(AGENT)),
                    kv("service.version", s("1.4.0")),
                    kv("deployment.environment.name", s("production")),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "contract_summarizer.agent".into(),
                    version: "1.4.0".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// The attributes every span of the run carries: the agent, and the session and principal the
/// agent propagates as baggage.
fn run_attributes() -> Vec<KeyValue> {
    vec![
        kv("gen_ai.agent.name", s(AGENT)),
        kv("agentrail.session.id", s(SESSION_ID)),
        kv("agentrail.principal", s("svc-contract-summarizer")),
    ]
}

fn span(
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: &str,
    kind: SpanKind,
    (start_ms, end_ms): (u64, u64),
    attributes: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: parent.map(|p| p.to_vec()).unwrap_or_default(),
        name: name.into(),
        kind: kind as i32,
        start_time_unix_nano: T0 + start_ms * MS,
        end_time_unix_nano: T0 + end_ms * MS,
        attributes: run_attributes().into_iter().chain(attributes).collect(),
        status: Some(Status {
            message: String::new(),
            code: StatusCode::Ok as i32,
        }),
        ..Default::default()
    }
}

/// The agent reads the Umbrella contract through its `fetch_contract` tool.
fn tool_span() -> Span {
    span(
        TOOL_SPAN,
        Some(ROOT_SPAN),
        "execute_tool fetch_contract",
        SpanKind::Internal,
        (210, 455),
        vec![
            kv("gen_ai.operation.name", s("execute_tool")),
            kv("gen_ai.tool.name", s("fetch_contract")),
            kv("gen_ai.tool.call.id", s("call_01JDQ7M3KX")),
            kv(
                "gen_ai.tool.call.arguments",
                s(r#"{"account_id":"001Dn0000000003","document":"master-agreement"}"#),
            ),
            kv("agentrail.system", s("contracts-db")),
            kv("agentrail.resource", s("contracts/001Dn0000000003")),
        ],
    )
}

/// The agent asks a model to summarize the contract.
fn chat_span() -> Span {
    span(
        CHAT_SPAN,
        Some(ROOT_SPAN),
        "chat gpt-4.1",
        SpanKind::Client,
        (480, 4_890),
        vec![
            kv("gen_ai.operation.name", s("chat")),
            kv("gen_ai.provider.name", s("openai")),
            kv("gen_ai.request.model", s("gpt-4.1")),
            kv("gen_ai.response.model", s("gpt-4.1-2025-04-14")),
            kv("gen_ai.usage.input_tokens", int(18_240)),
            kv("gen_ai.usage.output_tokens", int(912)),
        ],
    )
}

/// The run itself: who asked for what, under which authorization, what it decided, and how it
/// ended.
fn root_span() -> Span {
    let mut root = span(
        ROOT_SPAN,
        None,
        "invoke_agent contract-summarizer",
        SpanKind::Internal,
        (0, 5_120),
        vec![
            kv("gen_ai.operation.name", s("invoke_agent")),
            kv("user.id", s("carol@acme.example")),
            kv("agentrail.trigger.type", s("user")),
            kv("agentrail.request.id", s("LEGAL-2291")),
            kv(
                "agentrail.trigger.request",
                s("summarize the renewal terms of the Umbrella master agreement"),
            ),
            kv("agentrail.authz.decision", s("allow")),
            kv(
                "agentrail.authz.policy",
                s("policies/contract-summarizer.cedar"),
            ),
            kv(
                "agentrail.authz.permissions",
                strs(&["contracts:read", "llm:invoke"]),
            ),
            kv("agentrail.authz.granted_by", s("okta-group:legal-ops")),
            kv(
                "agentrail.outcome.summary",
                s("Summarized the Umbrella master agreement; 2 clauses flagged for legal review."),
            ),
        ],
    );
    root.events = vec![Event {
        time_unix_nano: T0 + 4_950 * MS,
        name: "agentrail.decision".into(),
        attributes: vec![
            kv("agentrail.decision.name", s("flag-clauses-for-review")),
            kv(
                "agentrail.decision.question",
                s("Which clauses of the Umbrella master agreement need legal review before the renewal?"),
            ),
            kv(
                "agentrail.decision.inputs",
                strs(&["contracts-db:contracts/001Dn0000000003"]),
            ),
            kv(
                "agentrail.decision.considered",
                strs(&[
                    "4.2 automatic renewal",
                    "9.1 termination for convenience",
                    "11.3 price-increase cap",
                    "14 data residency",
                ]),
            ),
            kv(
                "agentrail.decision.chosen",
                strs(&["4.2 automatic renewal", "11.3 price-increase cap"]),
            ),
            kv(
                "agentrail.decision.rejected",
                s(r#"[{"id":"9.1 termination for convenience","reason":"standard wording, identical to the template"},{"id":"14 data residency","reason":"unchanged since the 2025 review"}]"#),
            ),
            kv(
                "agentrail.decision.rationale",
                s("Clauses that renew or reprice automatically go to legal before any renewal outreach."),
            ),
            kv("agentrail.decision.model", s("gpt-4.1")),
        ],
        dropped_attributes_count: 0,
    }];
    root
}

fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(value),
        key_strindex: 0,
    }
}

fn s(x: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(x.into())),
    }
}

fn int(x: i64) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::IntValue(x)),
    }
}

fn strs(values: &[&str]) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: values.iter().map(|v| s(v)).collect(),
        })),
    }
}
