"""The gRPC `clarion.v1.Events` service: REST's trigger bodies, checks and results.

Each request becomes the JSON body its REST twin takes (`POST /events/trigger`, `/events/bulk`),
goes through the same JSON checks (`platform_core.api.parsers.parse_json_body`: depth,
characters, finite numbers), the same serializers and `event_trigger`; the results are the
REST bodies as messages. See proto/clarion/v1/events.proto.
"""

from __future__ import annotations

import json

import grpc
from google.protobuf import struct_pb2

from clarion.v1 import events_pb2, events_pb2_grpc
from notifications.api.events import bulk_accept, trigger_accept
from platform_core.api.parsers import parse_json_body
from platform_core.rpc.calls import Call, api_key_rpc, lenient_deserializer

PRIORITIES = {
    events_pb2.PRIORITY_CRITICAL: "critical",
    events_pb2.PRIORITY_HIGH: "high",
    events_pb2.PRIORITY_NORMAL: "normal",
    events_pb2.PRIORITY_LOW: "low",
}
SUBSCRIBER_STRINGS = ("email", "phone", "first_name", "last_name", "locale", "timezone")
# JSON numbers up to this magnitude that are whole come out as integers: Struct holds only
# doubles, and `{"order_id": 1}` must render as `1`, not `1.0`.
_MAX_EXACT_INTEGER = 2**53


def value_to_python(value: struct_pb2.Value):
    """A google.protobuf.Value as the JSON value it stands for."""
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [value_to_python(item) for item in value.list_value.values]
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= _MAX_EXACT_INTEGER:
            return int(number)
        return number  # NaN and infinities are refused by the JSON checks, with their path
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    return None


def struct_to_dict(struct: struct_pb2.Struct) -> dict:
    return {key: value_to_python(item) for key, item in struct.fields.items()}


def _subscriber(message: events_pb2.Subscriber) -> dict:
    body: dict = {"subscriber_id": message.subscriber_id}
    for name in SUBSCRIBER_STRINGS:
        if message.HasField(name):
            body[name] = getattr(message, name)
    if message.HasField("data"):
        body["data"] = struct_to_dict(message.data)
    if message.HasField("quiet_hours"):
        window = message.quiet_hours
        cleared = not window.start and not window.end
        body["quiet_hours"] = None if cleared else {"start": window.start, "end": window.end}
    return body


def _recipient(message: events_pb2.Recipient):
    kind = message.WhichOneof("recipient")
    if kind == "subscriber":
        return _subscriber(message.subscriber)
    if kind == "topic":
        return {"topic": message.topic}
    if kind == "subscriber_id":
        return message.subscriber_id
    return None  # an empty entry: "This field may not be null." on `to.<n>`


def _actor(message: events_pb2.Actor):
    kind = message.WhichOneof("actor")
    if kind == "subscriber":
        return _subscriber(message.subscriber)
    if kind == "subscriber_id":
        return message.subscriber_id
    return None


def trigger_body(request: events_pb2.TriggerRequest) -> dict:
    """The REST body of a TriggerRequest; fields it does not set are left out."""
    body: dict = {"event": request.event, "to": [_recipient(entry) for entry in request.to]}
    if request.HasField("payload"):
        body["payload"] = struct_to_dict(request.payload)
    if request.HasField("actor"):
        body["actor"] = _actor(request.actor)
    if request.priority != events_pb2.PRIORITY_UNSPECIFIED:
        # An unknown enum number reaches the serializer as is: "not a valid choice".
        body["priority"] = PRIORITIES.get(request.priority, str(request.priority))
    if request.HasField("transaction_id"):
        body["transaction_id"] = request.transaction_id
    return body


def _checked(body: dict):
    """`body` through the REST API's JSON checks (too_deep, invalid_number, ...)."""
    return parse_json_body(json.dumps(body, allow_nan=True).encode())


def _error_message(error: dict) -> events_pb2.Error:
    return events_pb2.Error(
        code=error["code"],
        message=error["message"],
        fields={
            name: events_pb2.FieldMessages(messages=messages)
            for name, messages in (error.get("fields") or {}).items()
        },
    )


class EventsServicer(events_pb2_grpc.EventsServicer):
    @api_key_rpc(category="events")
    def Trigger(self, request: events_pb2.TriggerRequest, call: Call):  # noqa: N802
        outcome = trigger_accept(
            body=_checked(trigger_body(request)),
            idempotency_key=call.metadata.get("idempotency-key"),
            request_id=call.request_id,
        )
        if outcome.replayed:
            call.response_metadata.append(("idempotent-replayed", "true"))
        return events_pb2.TriggerResponse(**outcome.body, replayed=outcome.replayed)

    @api_key_rpc(category="events")
    def BulkTrigger(self, request: events_pb2.BulkTriggerRequest, call: Call):  # noqa: N802
        body = _checked({"events": [trigger_body(event) for event in request.events]})
        results = []
        for result in bulk_accept(body=body, request_id=call.request_id):
            if result["status"] == "error":
                results.append(
                    events_pb2.BulkTriggerResult(
                        status="error", error=_error_message(result["error"])
                    )
                )
            else:
                results.append(events_pb2.BulkTriggerResult(**result))
        return events_pb2.BulkTriggerResponse(results=results)


def add_to_server(server) -> list[str]:
    """Register the services of this module on `server`; their full names.

    As the generated `add_EventsServicer_to_server`, with requests that fail to decode
    answered by the servicer (INVALID_ARGUMENT) rather than by the runtime (INTERNAL).
    """
    service = events_pb2.DESCRIPTOR.services_by_name["Events"]
    servicer = EventsServicer()
    handlers = {
        method.name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=lenient_deserializer(getattr(events_pb2, method.input_type.name)),
            response_serializer=getattr(events_pb2, method.output_type.name).SerializeToString,
        )
        for method in service.methods
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
    return [service.full_name]
