"""A fake OpenTelemetry collector: OTLP/HTTP with protobuf bodies on /v1/traces, as a real one
answers (200 with an ExportTraceServiceResponse), keeping the spans it received."""

from __future__ import annotations

import base64
import threading
from typing import Any

from aiohttp import web
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.fakes.base import FakeUpstream, RecordedRequest


def _hex(b64: str | None) -> str | None:
    return base64.b64decode(b64).hex() if b64 else None  # JSON mapping gives ids as base64


def _value(any_value: dict[str, Any]) -> Any:
    for kind, value in any_value.items():
        if kind == "intValue":
            return int(value)
        if kind == "arrayValue":
            return [_value(v) for v in value.get("values", [])]
        return value
    return None


class FakeCollector(FakeUpstream):
    def __init__(self) -> None:
        super().__init__()
        self.spans: list[dict[str, Any]] = []
        self._spans_lock = threading.Lock()

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/v1/traces", self.handler(self._traces))]

    async def _traces(self, request: web.Request, rec: RecordedRequest) -> web.StreamResponse:
        if rec.headers.get("content-type") != "application/x-protobuf":
            return web.Response(status=415, text="protobuf only")
        message = ExportTraceServiceRequest()
        message.ParseFromString(rec.body)
        received = []
        for resource_spans in MessageToDict(message).get("resourceSpans", []):
            resource = {
                a["key"]: _value(a["value"]) for a in resource_spans["resource"].get("attributes", [])
            }
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    received.append(
                        {
                            "name": span["name"],
                            "kind": span.get("kind"),
                            "trace_id": _hex(span["traceId"]),
                            "span_id": _hex(span["spanId"]),
                            "parent_span_id": _hex(span.get("parentSpanId")),
                            "attributes": {a["key"]: _value(a["value"]) for a in span.get("attributes", [])},
                            "status": span.get("status", {}).get("code"),
                            "start": int(span["startTimeUnixNano"]),
                            "end": int(span["endTimeUnixNano"]),
                            "resource": resource,
                        }
                    )
        with self._spans_lock:
            self.spans.extend(received)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    def reset(self) -> None:
        super().reset()
        with self._spans_lock:
            self.spans.clear()
