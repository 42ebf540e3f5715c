#!/usr/bin/env python3
"""Export a GenAI agent run to agentrail with the real OpenTelemetry Python SDK.

Used by crates/agentrail/tests/otel_e2e.rs; shares no code with agentrail. The run is one
`invoke_agent renewal-drafter` span (user, request id, and an `agentrail.decision` span event)
with three children: a `chat` model call with token usage, an `execute_tool search_accounts`
call whose arguments hold an API key, and an ordinary span no convention describes.

Usage: otel_export.py PORT MODE

MODE is one of:

    export  the SDK's BatchSpanProcessor and OTLPSpanExporter (binary protobuf, gzip), then
            force_flush. Prints one JSON line: the trace id and each span's id and times.
    retry   a SimpleSpanProcessor exports each span as it ends, through a wrapper that keeps
            the exported ReadableSpans. Prints the same JSON line (with "phase": "exported"),
            then waits for a line on standard input, re-exports the very same spans twice
            (all in one request, then again gzip-compressed by a second exporter), and prints
            {"phase": "re-exported", ...}. The caller checks the log did not grow in between.
    json    one OTLP/JSON body (hex ids, int64 as decimal strings) built by hand and sent twice
            with urllib.request. Prints the ids and the times it used.

Every HTTP response of the collector is checked: status 200, and an ExportTraceServiceResponse
without partial_success (no span rejected, no conflict). On any failure prints `FAIL: ...` to
stderr and exits 1.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import urllib.request

import requests
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode

SECRET = "sk-test-abcdefghijklmnopqrstuvwxyz123456"
TOOL_ARGUMENTS = json.dumps({"tier": "enterprise", "api_key": SECRET}, separators=(",", ":"))
SERVICE = "renewal-service"


class Fail(Exception):
    """The collector's answer was not what an OTLP exporter must get."""


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def normal_ts(nanos: int) -> str:
    """Unix nanoseconds in RFC 3339 UTC, fraction without trailing zeros (agentrail's form)."""
    secs, frac = divmod(nanos, 1_000_000_000)
    days, rem = divmod(secs, 86_400)
    # The date from whole days, so the datetime module's microsecond precision never applies.
    date = datetime.date(1970, 1, 1) + datetime.timedelta(days=days)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    out = f"{date.isoformat()}T{hh:02}:{mm:02}:{ss:02}"
    if frac:
        out += "." + f"{frac:09}".rstrip("0")
    return out + "Z"


class Responses:
    """Records every response of the collector (through a requests.Session hook) and checks it."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, str, bytes]] = []
        self.session = requests.Session()
        # Loopback only: never route the test's requests through a proxy from the environment.
        self.session.trust_env = False
        self.session.hooks["response"].append(self._record)

    def _record(self, response, *args, **kwargs):  # noqa: ARG002 (requests' hook signature)
        self.seen.append(
            (response.status_code, response.headers.get("Content-Type", ""), response.content)
        )

    def check(self, expected: int) -> None:
        if len(self.seen) < expected:
            raise Fail(f"{len(self.seen)} export requests were answered; expected at least {expected}")
        for i, (status, content_type, body) in enumerate(self.seen):
            if status != 200:
                raise Fail(f"export request {i}: HTTP {status}: {body[:500]!r}")
            if not content_type.startswith("application/x-protobuf"):
                raise Fail(f"export request {i}: Content-Type {content_type!r}, not application/x-protobuf")
            resp = ExportTraceServiceResponse()
            resp.ParseFromString(body)
            if resp.HasField("partial_success") and (
                resp.partial_success.rejected_spans or resp.partial_success.error_message
            ):
                raise Fail(
                    f"export request {i}: partial success: {resp.partial_success.rejected_spans} "
                    f"spans rejected: {resp.partial_success.error_message}"
                )


class Keeping(SpanExporter):
    """Passes spans on to an exporter, keeps them, and records each export's result."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.spans: list[ReadableSpan] = []
        self.results: list[SpanExportResult] = []

    def export(self, spans):
        self.spans.extend(spans)
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def exporter(port: int, responses: Responses, gzip: bool) -> OTLPSpanExporter:
    return OTLPSpanExporter(
        endpoint=f"http://127.0.0.1:{port}/v1/traces",
        compression=Compression.Gzip if gzip else Compression.NoCompression,
        session=responses.session,
        timeout=10,
    )


def emit_run(provider: TracerProvider) -> dict:
    """One agent run; returns the ids and times the collector should derive events from."""
    tracer = provider.get_tracer("agentrail.interop", "1.0.0")
    with tracer.start_as_current_span(
        "invoke_agent renewal-drafter",
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "renewal-drafter",
            "user.id": "alice@acme.example",
            "agentrail.request.id": "47892",
        },
    ) as agent:
        with tracer.start_as_current_span(
            "chat claude-sonnet-4-5",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "anthropic",
                "gen_ai.request.model": "claude-sonnet-4-5",
                "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                "gen_ai.usage.input_tokens": 1843,
                "gen_ai.usage.output_tokens": 212,
            },
        ) as chat:
            pass
        with tracer.start_as_current_span(
            "execute_tool search_accounts",
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_accounts",
                "gen_ai.tool.call.id": "call_7f3a",
                "gen_ai.tool.call.arguments": TOOL_ARGUMENTS,
            },
        ) as tool:
            pass
        with tracer.start_as_current_span("render renewal-letter") as plain:
            plain.set_attribute("letter.template", "renewal-v3")
        agent.add_event(
            "agentrail.decision",
            attributes={
                "agentrail.decision.name": "renewal-term",
                "agentrail.decision.chosen": ["renew-12-months"],
                "agentrail.decision.rejected": json.dumps(
                    [{"id": "renew-36-months", "reason": "the customer asked for flexibility"}]
                ),
                "agentrail.decision.rationale": "usage grew 40% this year",
            },
        )
        agent.set_status(Status(StatusCode.OK))
    spans = {"agent": agent, "chat": chat, "tool": tool, "plain": plain}
    decision_ns = agent.events[0].timestamp
    return {
        "trace_id": f"{agent.get_span_context().trace_id:032x}",
        "spans": {
            name: {
                "span_id": f"{s.get_span_context().span_id:016x}",
                "start_ts": normal_ts(s.start_time),
                "end_ts": normal_ts(s.end_time),
            }
            for name, s in spans.items()
        },
        "decision_ts": normal_ts(decision_ns),
    }


def provider() -> TracerProvider:
    return TracerProvider(resource=Resource.create({"service.name": SERVICE}))


def mode_export(port: int) -> None:
    responses = Responses()
    kept = Keeping(exporter(port, responses, gzip=True))
    tp = provider()
    tp.add_span_processor(BatchSpanProcessor(kept))
    run = emit_run(tp)
    if not tp.force_flush(30_000):
        raise Fail("force_flush timed out")
    tp.shutdown()
    if len(kept.spans) != 4:
        raise Fail(f"the SDK exported {len(kept.spans)} spans; expected 4")
    if any(r != SpanExportResult.SUCCESS for r in kept.results):
        raise Fail(f"an export failed: {kept.results}")
    responses.check(1)
    print(json.dumps({"mode": "export", **run, "requests": len(responses.seen)}), flush=True)


def mode_retry(port: int) -> None:
    responses = Responses()
    kept = Keeping(exporter(port, responses, gzip=False))
    tp = provider()
    tp.add_span_processor(SimpleSpanProcessor(kept))
    run = emit_run(tp)
    tp.force_flush(30_000)
    if len(kept.spans) != 4 or any(r != SpanExportResult.SUCCESS for r in kept.results):
        raise Fail(f"first export: {len(kept.spans)} spans, results {kept.results}")
    responses.check(4)
    print(json.dumps({"mode": "retry", "phase": "exported", **run}), flush=True)
    if not sys.stdin.readline():
        raise Fail("standard input closed before the go-ahead for the re-export")
    # The same ReadableSpans again, as an exporter retrying a batch whose answer it never got:
    # once all in one request, once gzip-compressed through a second exporter.
    again = [
        kept.inner.export(list(kept.spans)),
        exporter(port, responses, gzip=True).export(list(kept.spans)),
    ]
    if any(r != SpanExportResult.SUCCESS for r in again):
        raise Fail(f"re-export failed: {again}")
    responses.check(6)
    tp.shutdown()
    print(json.dumps({"phase": "re-exported", "requests": len(responses.seen)}), flush=True)


def kv(key: str, value: dict) -> dict:
    return {"key": key, "value": value}


def mode_json(port: int) -> None:
    trace_id = os.urandom(16).hex()
    agent_id, chat_id = os.urandom(8).hex(), os.urandom(8).hex()
    t0 = 1_764_331_200_123_456_789  # 2025-11-28T12:00:00.123456789Z
    times = {
        "agent": (t0, 1_764_331_202_500_000_000),
        "chat": (1_764_331_200_200_000_000, 1_764_331_201_450_000_000),
        "decision": 1_764_331_201_000_000_000,
    }
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [kv("service.name", {"stringValue": SERVICE + "-json"})]},
                "scopeSpans": [
                    {
                        "scope": {"name": "agentrail.interop.json", "version": "1.0.0"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": agent_id,
                                "name": "invoke_agent renewal-drafter",
                                "kind": 1,
                                "startTimeUnixNano": str(times["agent"][0]),
                                "endTimeUnixNano": str(times["agent"][1]),
                                "attributes": [
                                    kv("gen_ai.operation.name", {"stringValue": "invoke_agent"}),
                                    kv("gen_ai.agent.name", {"stringValue": "renewal-drafter"}),
                                    kv("user.id", {"stringValue": "alice@acme.example"}),
                                    kv("agentrail.request.id", {"stringValue": "47893"}),
                                ],
                                "events": [
                                    {
                                        "timeUnixNano": str(times["decision"]),
                                        "name": "agentrail.decision",
                                        "attributes": [
                                            kv("agentrail.decision.name", {"stringValue": "renewal-term"}),
                                            kv(
                                                "agentrail.decision.chosen",
                                                {"arrayValue": {"values": [{"stringValue": "renew-24-months"}]}},
                                            ),
                                            kv(
                                                "agentrail.decision.rejected",
                                                {
                                                    "stringValue": json.dumps(
                                                        [{"id": "renew-12-months", "reason": "price lock expires"}]
                                                    )
                                                },
                                            ),
                                        ],
                                    }
                                ],
                                "status": {"code": 1},
                            },
                            {
                                "traceId": trace_id,
                                "spanId": chat_id,
                                "parentSpanId": agent_id,
                                "name": "chat claude-sonnet-4-5",
                                "kind": 3,
                                "startTimeUnixNano": str(times["chat"][0]),
                                "endTimeUnixNano": str(times["chat"][1]),
                                "attributes": [
                                    kv("gen_ai.operation.name", {"stringValue": "chat"}),
                                    kv("gen_ai.provider.name", {"stringValue": "anthropic"}),
                                    kv("gen_ai.request.model", {"stringValue": "claude-sonnet-4-5"}),
                                    kv("gen_ai.usage.input_tokens", {"intValue": "1843"}),
                                    kv("gen_ai.usage.output_tokens", {"intValue": "212"}),
                                ],
                            },
                        ],
                    }
                ],
            }
        ]
    }
    data = json.dumps(body).encode()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for attempt in range(2):
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/traces",
            data=data,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with opener.open(req, timeout=10) as resp:
                status, content_type, text = resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as e:
            raise Fail(f"OTLP/JSON post {attempt}: HTTP {e.code}: {e.read()[:500]!r}") from e
        if status != 200 or not content_type.startswith("application/json"):
            raise Fail(f"OTLP/JSON post {attempt}: HTTP {status}, Content-Type {content_type!r}")
        answer = json.loads(text)
        partial = answer.get("partialSuccess")
        if partial and (int(partial.get("rejectedSpans", "0")) or partial.get("errorMessage")):
            raise Fail(f"OTLP/JSON post {attempt}: partial success: {partial}")
    print(
        json.dumps(
            {
                "mode": "json",
                "trace_id": trace_id,
                "spans": {
                    "agent": {
                        "span_id": agent_id,
                        "start_ts": normal_ts(times["agent"][0]),
                        "end_ts": normal_ts(times["agent"][1]),
                    },
                    "chat": {
                        "span_id": chat_id,
                        "start_ts": normal_ts(times["chat"][0]),
                        "end_ts": normal_ts(times["chat"][1]),
                    },
                },
                "decision_ts": normal_ts(times["decision"]),
            }
        ),
        flush=True,
    )


def main() -> None:
    if len(sys.argv) != 3 or sys.argv[2] not in ("export", "retry", "json"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    port = int(sys.argv[1])
    try:
        {"export": mode_export, "retry": mode_retry, "json": mode_json}[sys.argv[2]](port)
    except Fail as e:
        fail(str(e))


if __name__ == "__main__":
    main()
