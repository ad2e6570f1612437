"""The gRPC trigger API: a real `manage.py grpcserver` on 127.0.0.1 and a real grpcio client,
against this suite's PostgreSQL and Redis, with a real worker delivering in-app messages."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from django.db import connection, transaction
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from clarion.v1 import events_pb2, events_pb2_grpc
from notifications.models import InboxMessage, Notification, Subscriber
from notifications.services.trigger import _lock_id
from platform_core.api.errors import GRPC_STATUS_BY_KIND, STATUS_BY_KIND
from platform_core.errors import ErrorKind
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_create
from tests.conftest import BASE_DIR, worker_env
from tests.notifications.pipeline_helpers import make_workflow, wait_until

pytestmark = pytest.mark.worker

APP_NAME = "clarion-grpc-test"
_LISTENING = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")


class ServerExited(RuntimeError):
    """The server exited before it listened; its output."""


class Server:
    """`manage.py grpcserver --port 0` as a child process; its port is read from its output."""

    def __init__(self, port: int = 0, **env: str):
        self.proc = subprocess.Popen(
            [sys.executable, str(BASE_DIR / "manage.py"), "grpcserver"]
            + ["--address", "127.0.0.1", "--port", str(port)],
            cwd=BASE_DIR,
            env=worker_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.output = b""
        self.port = self._wait_for_port()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _wait_for_port(self) -> int:
        timer = threading.Timer(60, self.proc.kill)
        timer.start()
        try:
            for line in self.proc.stdout:
                self.output += line
                if match := _LISTENING.search(line):
                    return int(match.group(1))
        finally:
            timer.cancel()
        self.proc.wait(10)
        raise ServerExited(self.output.decode(errors="replace"))

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.output += line

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


@pytest.fixture(scope="module")
def grpc_server(test_tenants):
    # One thread serves every call, so consecutive calls share one database connection.
    server = Server(GRPC_MAX_WORKERS="1", PGAPPNAME=APP_NAME)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(grpc_server):
    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        yield channel


@pytest.fixture
def events(channel):
    return events_pb2_grpc.EventsStub(channel)


def auth(key: str, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"ApiKey {key}"), *extra)


def struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def failure(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call(*args, **kwargs)
    return raised.value


def details(error: grpc.RpcError) -> dict:
    """The google.rpc details of a failed call: reason, field violations, retry delay."""
    status = rpc_status.from_call(error)
    found: dict = {"fields": {}}
    for detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.RetryInfo,
        ):
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                if isinstance(message, error_details_pb2.ErrorInfo):
                    found["reason"], found["domain"] = message.reason, message.domain
                elif isinstance(message, error_details_pb2.BadRequest):
                    for violation in message.field_violations:
                        found["fields"].setdefault(violation.field, []).append(
                            violation.description
                        )
                else:
                    found["retry_after"] = message.retry_delay.seconds
    return found


@pytest.fixture
def inapp_event(live, unique):
    return make_workflow(
        unique, [{"channel": "in_app", "body": "Order {{ payload.order_id }} shipped"}]
    )


def trigger(event: str, subscriber_id: str, **fields) -> events_pb2.TriggerRequest:
    return events_pb2.TriggerRequest(
        event=event, to=[events_pb2.Recipient(subscriber_id=subscriber_id)], **fields
    )


def test_a_trigger_is_accepted_as_by_rest_and_the_in_app_message_arrives(
    live, live_api, celery_worker, events, inapp_event, unique
):
    # given: an inline subscriber, a payload and a transaction id
    request = events_pb2.TriggerRequest(
        event=inapp_event,
        to=[
            events_pb2.Recipient(
                subscriber=events_pb2.Subscriber(
                    subscriber_id=f"ada-{unique}", first_name="Ada", email="ada@example.com"
                )
            )
        ],
        payload=struct({"order_id": 7, "items": [{"sku": "A", "qty": 2}]}),
        priority=events_pb2.PRIORITY_HIGH,
        transaction_id=f"tx-{unique}",
    )

    # when
    response, call = events.Trigger.with_call(request, metadata=auth(live.key), timeout=30)

    # then: REST's 202 body, stored as REST would store it, and the message is delivered
    assert (response.transaction_id, response.status, response.replayed) == (
        f"tx-{unique}",
        "accepted",
        False,
    )
    notification = Notification.objects.get(pk=uuid.UUID(response.notification_id))
    assert notification.priority == "high"
    assert notification.payload == {"order_id": 7, "items": [{"sku": "A", "qty": 2}]}
    assert Subscriber.objects.get(subscriber_id=f"ada-{unique}").email == "ada@example.com"
    assert dict(call.initial_metadata())["ratelimit-limit"]
    message = wait_until(
        lambda: InboxMessage.objects.filter(subscriber__subscriber_id=f"ada-{unique}").first(),
        what="the in-app message",
    )
    assert message.body == "Order 7 shipped"
    # the REST API sees the very same notification: the same body again is its replay
    rest = live_api.post(
        "/api/v1/events/trigger",
        {
            "event": inapp_event,
            "to": [
                {"subscriber_id": f"ada-{unique}", "first_name": "Ada", "email": "ada@example.com"}
            ],
            "payload": {"order_id": 7, "items": [{"sku": "A", "qty": 2}]},
            "priority": "high",
            "transaction_id": f"tx-{unique}",
        },
    )
    assert rest.status_code == 200, rest.json()
    assert rest.json() == {
        "notification_id": response.notification_id,
        "transaction_id": f"tx-{unique}",
        "status": "accepted",
    }


def test_the_same_transaction_id_replays_the_first_result_and_sends_nothing_new(
    live, events, inapp_event, unique
):
    request = trigger(inapp_event, f"u-{unique}", transaction_id=f"dup-{unique}")
    first = events.Trigger(request, metadata=auth(live.key), timeout=30)

    again, call = events.Trigger.with_call(request, metadata=auth(live.key), timeout=30)

    assert not first.replayed
    assert again.replayed
    assert dict(call.initial_metadata())["idempotent-replayed"] == "true"
    assert (again.notification_id, again.transaction_id, again.status) == (
        first.notification_id,
        first.transaction_id,
        first.status,
    )
    assert Notification.objects.filter(transaction_id=f"dup-{unique}").count() == 1

    # the same key with another body: refused, as REST's 422 idempotency_key_mismatch
    other = trigger(inapp_event, f"someone-else-{unique}", transaction_id=f"dup-{unique}")
    error = failure(events.Trigger, other, metadata=auth(live.key), timeout=30)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(error)["reason"] == "idempotency_key_mismatch"


def test_the_idempotency_key_metadata_is_the_key_when_no_transaction_id(
    live, events, inapp_event, unique
):
    metadata = auth(live.key, ("idempotency-key", f"idem-{unique}"))
    first = events.Trigger(trigger(inapp_event, "u"), metadata=metadata, timeout=30)
    again = events.Trigger(trigger(inapp_event, "u"), metadata=metadata, timeout=30)

    assert first.transaction_id == f"idem-{unique}"
    assert again.replayed and again.notification_id == first.notification_id


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ((), "not_authenticated"),
        ((("authorization", "Bearer something"),), "not_authenticated"),
        ((("authorization", "ApiKey ck_nosuchkey.secret"),), "authentication_failed"),
    ],
)
def test_a_missing_or_bad_key_is_unauthenticated(live, events, inapp_event, metadata, reason):
    before = Notification.objects.count()

    error = failure(events.Trigger, trigger(inapp_event, "u"), metadata=metadata, timeout=30)

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert details(error)["reason"] == reason
    assert Notification.objects.count() == before


def test_a_revoked_key_is_unauthenticated(live, events, inapp_event, unique):
    key, secret = api_key_create(tenant=live.tenant, name=f"revoked-{unique}")
    ApiKey.objects.filter(pk=key.pk).update(revoked_at="2026-01-01T00:00:00Z")

    error = failure(events.Trigger, trigger(inapp_event, "u"), metadata=auth(secret), timeout=30)

    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("request_fields", "code", "field"),
    [
        ({"to": []}, "validation_error", "to"),
        (
            {
                "to": [
                    events_pb2.Recipient(
                        subscriber=events_pb2.Subscriber(subscriber_id="x", email="nope")
                    )
                ]
            },
            "validation_error",
            "to.0.email",
        ),
        ({"to": [events_pb2.Recipient()]}, "validation_error", "to.0"),
        ({"to": [events_pb2.Recipient(topic="no-such-topic")]}, "validation_error", "to.0.topic"),
        ({"priority": 9}, "validation_error", "priority"),
        ({"payload": struct({"amount": float("nan")})}, "invalid_number", "payload.amount"),
        ({"payload": struct({"note": "a\x00b"})}, "invalid_characters", "payload.note"),
        (
            {"to": [events_pb2.Recipient(subscriber_id=f"u-{n}") for n in range(101)]},
            "too_many_recipients",
            "to",
        ),
    ],
)
def test_an_invalid_request_is_invalid_argument_naming_the_field(
    live, events, inapp_event, request_fields, code, field
):
    before = Notification.objects.count()
    request = events_pb2.TriggerRequest(
        event=inapp_event, to=[events_pb2.Recipient(subscriber_id="u")]
    )
    for name, value in request_fields.items():
        if name == "to":
            del request.to[:]
            request.to.extend(value)
        elif name == "payload":
            request.payload.CopyFrom(value)
        else:
            setattr(request, name, value)

    error = failure(events.Trigger, request, metadata=auth(live.key), timeout=30)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = details(error)
    assert (found["reason"], found["domain"]) == (code, "clarion")
    assert field in found["fields"], found
    assert Notification.objects.count() == before


def nested(depth: int) -> dict:
    value: dict = {"x": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_a_payload_nested_deeper_than_the_rest_limit_is_too_deep(live, events, inapp_event):
    request = trigger(inapp_event, "u", payload=struct(nested(33)))

    error = failure(events.Trigger, request, metadata=auth(live.key), timeout=30)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["reason"] == "too_deep"


def test_a_payload_nested_32_deep_is_accepted(live, events, inapp_event):
    request = trigger(inapp_event, "u", payload=struct(nested(31)))

    assert events.Trigger(request, metadata=auth(live.key), timeout=30).status == "accepted"


def _varint(number: int) -> bytes:
    out = b""
    while True:
        low, number = number & 0x7F, number >> 7
        if not number:
            return out + bytes([low])
        out += bytes([low | 0x80])


def test_a_payload_too_deep_for_protobuf_is_refused_and_the_server_goes_on(
    live, channel, events, inapp_event
):
    # given: a TriggerRequest, written by hand, whose payload nests past protobuf's limit
    payload = struct_pb2.Struct()
    payload.update(nested(60))
    body = payload.SerializeToString()
    raw = trigger(inapp_event, "u").SerializeToString() + b"\x1a" + _varint(len(body)) + body
    send_raw = channel.unary_unary("/clarion.v1.Events/Trigger")

    # when
    error = failure(send_raw, raw, metadata=auth(live.key), timeout=30)

    # then: refused as invalid, and the next call is served
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["reason"] == "malformed_message"
    ok = events.Trigger(trigger(inapp_event, "u"), metadata=auth(live.key), timeout=30)
    assert ok.status == "accepted"


def test_a_key_still_in_flight_is_aborted_with_retry_info(live, events, inapp_event, unique):
    # given: another request holds the idempotency key's lock (its transaction is open)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_id(f"busy-{unique}")])

        # when
        error = failure(
            events.Trigger,
            trigger(inapp_event, "u", transaction_id=f"busy-{unique}"),
            metadata=auth(live.key),
            timeout=30,
        )

    # then
    assert error.code() == grpc.StatusCode.ABORTED
    found = details(error)
    assert found["reason"] == "idempotency_in_progress"
    assert found["retry_after"] >= 1
    assert not Notification.objects.filter(transaction_id=f"busy-{unique}").exists()


def test_an_unknown_event_is_failed_precondition(live, events):
    error = failure(
        events.Trigger, trigger("no.such.event", "u"), metadata=auth(live.key), timeout=30
    )

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    found = details(error)
    assert found["reason"] == "unknown_event"
    assert "event" in found["fields"]


def test_another_tenants_key_sees_nothing_of_the_first_tenant(
    live, test_tenants, events, inapp_event, unique
):
    # given: an event accepted in wonka
    request = trigger(inapp_event, f"u-{unique}", transaction_id=f"mine-{unique}")
    mine = events.Trigger(request, metadata=auth(live.key), timeout=30)
    globex = test_tenants["globex"]

    # when: globex's key sends the same request
    error = failure(events.Trigger, request, metadata=auth(globex.key), timeout=30)

    # then: globex has no such route and no such transaction: nothing replayed or leaked
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details(error)["reason"] == "unknown_event"
    assert mine.notification_id not in error.details()
    connection.set_schema_to_public()
    try:
        connection.set_tenant(globex.tenant)
        assert not Notification.objects.filter(transaction_id=f"mine-{unique}").exists()
    finally:
        connection.set_tenant(live.tenant)
    assert Notification.objects.filter(transaction_id=f"mine-{unique}").count() == 1


def test_concurrent_calls_of_two_tenants_stay_in_their_own_schemas(
    live, test_tenants, inapp_event, unique
):
    # given: a server with several threads, and calls of wonka and globex interleaved
    server = Server(GRPC_MAX_WORKERS="4")
    globex = test_tenants["globex"]

    def call(n: int):
        key = live.key if n % 2 == 0 else globex.key
        request = trigger(inapp_event, f"c-{n}", transaction_id=f"conc-{unique}-{n}")
        try:
            return stub.Trigger(request, metadata=auth(key), timeout=30).status
        except grpc.RpcError as error:
            return details(error)["reason"]

    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = events_pb2_grpc.EventsStub(channel)
            # when
            with ThreadPoolExecutor(max_workers=8) as pool:
                outcomes = list(pool.map(call, range(40)))
    finally:
        server.stop()

    # then: every wonka call found wonka's route, no globex call did
    assert outcomes == ["accepted", "unknown_event"] * 20
    assert Notification.objects.filter(transaction_id__startswith=f"conc-{unique}-").count() == 20


def test_bulk_trigger_accepts_each_event_on_its_own(live, events, inapp_event, unique):
    request = events_pb2.BulkTriggerRequest(
        events=[
            trigger(inapp_event, "b-1", transaction_id=f"bulk-1-{unique}"),
            trigger("no.such.event", "b-2"),
            trigger(inapp_event, "b-3", payload=struct({"order_id": "B-3"})),
            events_pb2.TriggerRequest(event=inapp_event),
        ]
    )

    response = events.BulkTrigger(request, metadata=auth(live.key), timeout=30)

    first, unknown, third, invalid = response.results
    assert (first.status, first.transaction_id, first.replayed) == (
        "accepted",
        f"bulk-1-{unique}",
        False,
    )
    assert (unknown.status, unknown.error.code) == ("error", "unknown_event")
    assert third.status == "accepted"
    assert Notification.objects.get(pk=third.notification_id).payload == {"order_id": "B-3"}
    assert (invalid.status, invalid.error.code) == ("error", "validation_error")
    assert list(invalid.error.fields) == ["to"]

    again = events.BulkTrigger(request, metadata=auth(live.key), timeout=30)
    assert again.results[0].replayed
    assert again.results[0].notification_id == first.notification_id


def test_bulk_trigger_of_more_than_100_events_is_refused(live, events, inapp_event):
    request = events_pb2.BulkTriggerRequest(events=[trigger(inapp_event, "u")] * 101)

    error = failure(events.BulkTrigger, request, metadata=auth(live.key), timeout=30)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(error)["reason"] == "batch_too_large"


def test_a_message_over_the_size_limit_is_refused_by_the_server(live, events, inapp_event):
    request = trigger(inapp_event, "u", payload=struct({"blob": "x" * (600 * 1024)}))

    error = failure(events.Trigger, request, metadata=auth(live.key), timeout=30)

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_over_the_rate_limit_is_resource_exhausted_with_retry_info(
    live, events, inapp_event, unique
):
    # given: a fresh key, and the tenant's events budget lowered to 2 a minute
    key, secret = api_key_create(tenant=live.tenant, name=f"rl-{unique}")
    Tenant.objects.filter(pk=live.tenant.pk).update(api_rate_limits="events=2/60")
    try:
        for _ in range(2):
            events.Trigger(trigger(inapp_event, "u"), metadata=auth(secret), timeout=30)

        # when
        error = failure(
            events.Trigger, trigger(inapp_event, "u"), metadata=auth(secret), timeout=30
        )
    finally:
        Tenant.objects.filter(pk=live.tenant.pk).update(api_rate_limits="")
        key.delete()

    # then
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    found = details(error)
    assert found["reason"] == "rate_limited"
    assert 0 < found["retry_after"] <= 60
    assert dict(error.initial_metadata())["ratelimit-remaining"] == "0"


def test_a_connection_broken_between_calls_does_not_fail_the_next_call(live, events, inapp_event):
    # given: the server's one thread has a database connection, which then dies
    events.Trigger(trigger(inapp_event, "u"), metadata=auth(live.key), timeout=30)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            [APP_NAME],
        )
        assert cursor.fetchone()[0] >= 1

    # when / then: the next calls on that thread reconnect instead of failing
    for _ in range(2):
        response = events.Trigger(trigger(inapp_event, "u"), metadata=auth(live.key), timeout=30)
        assert response.status == "accepted"


def test_every_error_kind_has_an_http_and_a_grpc_status():
    assert set(STATUS_BY_KIND) == set(ErrorKind) == set(GRPC_STATUS_BY_KIND)


def test_health_and_reflection_answer(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "clarion.v1.Events"):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = list(
        reflection.ServerReflectionInfo(
            iter(
                [
                    reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol="clarion.v1.Events"
                    ),
                ]
            ),
            timeout=10,
        )
    )
    names = {service.name for service in answers[0].list_services_response.service}
    assert {"clarion.v1.Events", "grpc.health.v1.Health"} <= names
    assert answers[1].file_descriptor_response.file_descriptor_proto


def test_a_database_outage_is_unavailable_with_retry_info(test_tenants):
    # given: a server whose database refuses connections
    server = Server(DATABASE_URL="postgres://clarion@127.0.0.1:1/clarion", PGCONNECT_TIMEOUT="2")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            # when
            error = failure(
                events_pb2_grpc.EventsStub(channel).Trigger,
                trigger("order.shipped", "u"),
                metadata=auth(test_tenants["wonka"].key),
                timeout=30,
            )
    finally:
        server.stop()

    # then: retry later, not an internal error
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    found = details(error)
    assert found["reason"] == "service_unavailable"
    assert found["retry_after"] >= 1


def test_a_taken_port_fails_loudly_instead_of_sharing_it(grpc_server):
    with pytest.raises(ServerExited) as exited:
        Server(port=grpc_server.port)

    assert f"cannot listen on 127.0.0.1:{grpc_server.port}" in str(exited.value)


def test_sigterm_stops_the_server_gracefully(test_tenants):
    server = Server()
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        health.Check(health_pb2.HealthCheckRequest(), timeout=10)

        code = server.stop()

        assert code == 0
        assert b"SIGTERM: stopping" in server.output and b"gRPC server stopped" in server.output
        with pytest.raises(grpc.RpcError) as raised:
            health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
