#!/usr/bin/env python3
"""Sends one agent run's trace with the official OpenTelemetry Python SDK.

    python agent.py --endpoint URL --protocol {http/protobuf,http/json,grpc}
                    [--gzip] [--token TOKEN] --scenario {ok,failed,long}
                    [--service NAME] [--agent NAME] [--run-id ID]

The trace follows the GenAI semantic conventions (see README.md for the
exact span names and attributes; the Rust tests check them). On the way out
it prints one JSON line on stdout:

    {"exported": N, "results": ["SUCCESS", ...], "trace_id": "<32 hex>", "root_span_id": "<16 hex>"}

`exported` counts calls to the exporter's export(), `results` holds each
call's SpanExportResult name in order. Exit status 0 only if there was at
least one export and every one returned SUCCESS, 1 otherwise, 2 on bad usage.
SDK and exporter diagnostics go to stderr.
"""

import argparse
import gzip
import json
import os
import sys
import threading
import time

# The run must not depend on the caller's environment: the SDK and its
# exporters read OTEL_* variables (endpoint, headers, compression, timeout,
# sampler, resource, SDK disabled, ...) wherever an argument is left out.
for _name in list(os.environ):
    if _name.startswith("OTEL_"):
        del os.environ[_name]

import grpc  # noqa: E402
import requests  # noqa: E402
from google.protobuf.json_format import MessageToJson  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: E402
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: E402
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: E402

EXPORT_TIMEOUT_S = 5.0
MS = 1_000_000  # nanoseconds

MODEL = "gpt-4.1-mini"
RESPONSE_MODEL = "gpt-4.1-mini-2025-04-14"
PROVIDER = "openai"
TOOL = "lookup_order"


def _log(message):
    print(f"agent.py: {message}", file=sys.stderr, flush=True)


def _no_proxy_session():
    """A requests session that ignores *_PROXY variables and .netrc: the hub
    is on loopback and must be reached directly."""
    session = requests.Session()
    session.trust_env = False
    return session


class OtlpJsonSpanExporter(SpanExporter):
    """OTLP/HTTP with JSON bodies, which the Python SDK does not ship.

    Spans are encoded by the SDK's own OTLP encoder, then rendered by
    protobuf's canonical JSON mapping (lowerCamelCase field names, enum
    names, 64-bit integers as strings, trace and span ids as base64, as
    generic protobuf-to-JSON converters write them)."""

    def __init__(self, endpoint, headers, compress, timeout=EXPORT_TIMEOUT_S):
        self._endpoint = endpoint
        self._headers = {"Content-Type": "application/json", **headers}
        if compress:
            self._headers["Content-Encoding"] = "gzip"
        self._compress = compress
        self._timeout = timeout
        self._session = _no_proxy_session()
        self._shutdown = False

    def export(self, spans):
        if self._shutdown:
            return SpanExportResult.FAILURE
        body = MessageToJson(encode_spans(spans), indent=None).encode("utf-8")
        if self._compress:
            body = gzip.compress(body)
        try:
            response = self._session.post(
                self._endpoint, data=body, headers=self._headers, timeout=self._timeout
            )
        except requests.RequestException as error:
            _log(f"http/json export failed: {error}")
            return SpanExportResult.FAILURE
        text = response.content.decode("utf-8", errors="replace")
        _log(
            f"http/json response {response.status_code} "
            f"({response.headers.get('Content-Type', '-')}): {text}"
        )
        if 200 <= response.status_code < 300:
            return SpanExportResult.SUCCESS
        return SpanExportResult.FAILURE

    def shutdown(self):
        self._shutdown = True
        self._session.close()

    def force_flush(self, timeout_millis=30000):
        return True


class RecordingExporter(SpanExporter):
    """Passes every batch to the real exporter and records what it returned."""

    def __init__(self, inner):
        self._inner = inner
        self._lock = threading.Lock()
        self.results = []

    def export(self, spans):
        try:
            result = self._inner.export(spans)
        except Exception as error:  # an exporter bug must still be counted
            _log(f"export raised {type(error).__name__}: {error}")
            result = SpanExportResult.FAILURE
        with self._lock:
            self.results.append(result.name)
        return result

    def shutdown(self):
        self._inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self._inner.force_flush(timeout_millis)


def make_exporter(args):
    base = args.endpoint.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    auth = {"authorization": f"Bearer {args.token}"} if args.token is not None else {}

    if args.protocol == "http/protobuf":
        return HttpSpanExporter(
            endpoint=f"{base}/v1/traces",
            headers=auth,
            timeout=EXPORT_TIMEOUT_S,
            compression=Compression.Gzip if args.gzip else Compression.NoCompression,
            session=_no_proxy_session(),
        )
    if args.protocol == "http/json":
        return OtlpJsonSpanExporter(f"{base}/v1/traces", auth, args.gzip)
    # grpc: the exporter takes the URL and dials its host:port in plaintext.
    return GrpcSpanExporter(
        endpoint=base,
        insecure=True,
        headers=auth or None,
        timeout=EXPORT_TIMEOUT_S,
        compression=grpc.Compression.Gzip if args.gzip else grpc.Compression.NoCompression,
        # Loopback only: never go through an http_proxy from the environment.
        channel_options=(("grpc.enable_http_proxy", 0),),
        # No retries. An empty list would mean "the default list", so name a
        # code that never comes back as an error.
        retryable_error_codes=[grpc.StatusCode.OK],
    )


def emit_trace(tracer, args):
    """Builds the run's four spans with exact timestamps; returns the root."""
    failed = args.scenario == "failed"
    t = time.time_ns() - 1_000_000_000

    root_attrs = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": args.agent,
        "gen_ai.provider.name": PROVIDER,
    }
    if args.run_id is not None:
        root_attrs["agentdeck.run_id"] = args.run_id
    root = tracer.start_span(
        f"invoke_agent {args.agent}", kind=SpanKind.INTERNAL, attributes=root_attrs, start_time=t
    )
    ctx = trace.set_span_in_context(root)

    def chat(start, end, input_tokens, output_tokens, cache_read=None):
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": MODEL,
            "gen_ai.response.model": RESPONSE_MODEL,
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
        }
        if cache_read is not None:
            attrs["gen_ai.usage.cache_read.input_tokens"] = cache_read
        span = tracer.start_span(
            f"chat {MODEL}", context=ctx, kind=SpanKind.CLIENT, attributes=attrs, start_time=start
        )
        span.end(end_time=end)

    chat(t + 5 * MS, t + 25 * MS, 1200, 300, cache_read=400)

    tool = tracer.start_span(
        f"execute_tool {TOOL}",
        context=ctx,
        kind=SpanKind.INTERNAL,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": TOOL,
            "gen_ai.tool.call.id": "call_1",
        },
        start_time=t + 30 * MS,
    )
    if failed:
        tool.set_attribute("error.type", "TimeoutError")
        tool.set_status(Status(StatusCode.ERROR, "order service timed out"))
    tool.end(end_time=t + 40 * MS)

    chat(t + 45 * MS, t + 65 * MS, 800, 200)

    if failed:
        root.set_attribute("error.type", "timeout")
        root.set_status(Status(StatusCode.ERROR, "upstream timeout"))
    root.end(end_time=t + 80 * MS)
    return root


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="base URL, e.g. http://127.0.0.1:4318")
    parser.add_argument("--protocol", required=True, choices=["http/protobuf", "http/json", "grpc"])
    parser.add_argument("--gzip", action="store_true", help="gzip-compress every export")
    parser.add_argument("--token", help="sent as 'authorization: Bearer TOKEN'")
    parser.add_argument("--scenario", required=True, choices=["ok", "failed", "long"])
    parser.add_argument("--service", default="refund-svc", help="resource service.name")
    parser.add_argument("--agent", default="refund-bot", help="gen_ai.agent.name")
    parser.add_argument("--run-id", dest="run_id", help="root span's agentdeck.run_id")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    recorder = RecordingExporter(make_exporter(args))
    if args.scenario == "long":
        # One export per span, in end order: model and tool spans first, the
        # agent span last.
        processor = SimpleSpanProcessor(recorder)
    else:
        processor = BatchSpanProcessor(recorder)
    provider = TracerProvider(resource=Resource.create({"service.name": args.service}))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("agentdeck.tests.otel.agent")

    root = emit_trace(tracer, args)

    flushed = provider.force_flush()
    provider.shutdown()
    if not flushed:
        _log("force_flush timed out")

    ctx = root.get_span_context()
    results = list(recorder.results)
    print(
        json.dumps(
            {
                "exported": len(results),
                "results": results,
                "trace_id": format(ctx.trace_id, "032x"),
                "root_span_id": format(ctx.span_id, "016x"),
            }
        ),
        flush=True,
    )
    ok = flushed and bool(results) and all(r == "SUCCESS" for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
