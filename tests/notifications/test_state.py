"""The delivery state machine: one table of moves, conditional moves, history in the same
statement, and no status written anywhere else."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from notifications.models import Delivery, DeliveryEvent, DeliveryStatus, Notification
from notifications.pipeline.state import (
    MOVES,
    NEW,
    IllegalMove,
    check_move,
    deliveries_move,
    delivery_move,
)
from tests.factories import SubscriberFactory

S = DeliveryStatus
ROOT = Path(__file__).resolve().parents[2]


def deliveries(statuses: list[str]) -> list[Delivery]:
    notification = Notification.objects.create(
        event="state.test", priority="normal", transaction_id=uuid.uuid4().hex, request_hash="x"
    )
    return [
        Delivery.objects.create(
            notification=notification,
            subscriber=SubscriberFactory(),
            step_index=0,
            channel="email",
            priority="normal",
            status=status,
        )
        for status in statuses
    ]


def history(delivery: Delivery) -> list[tuple[str, str]]:
    return list(
        DeliveryEvent.objects.filter(delivery=delivery).values_list("from_status", "status")
    )


def test_every_status_has_its_row_in_the_table_of_moves():
    assert set(MOVES) == {NEW, *S.values}
    assert all(set(targets) <= set(S.values) for targets in MOVES.values())


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [(S.CLICKED, S.SENT), (S.DEAD, S.SENT), (S.SENT, S.QUEUED), (S.SKIPPED, S.QUEUED),
     (NEW, S.SENT), (S.DIGESTED, S.QUEUED), (S.BOUNCED, S.DELIVERED)],
)  # fmt: skip
def test_a_move_not_in_the_table_is_refused_before_anything_is_written(
    in_acme, from_status, to_status
):
    with pytest.raises(IllegalMove):
        check_move([from_status], to_status)
    if from_status == NEW:
        return
    [delivery] = deliveries([from_status])

    with pytest.raises(IllegalMove):
        deliveries_move([delivery.pk], from_statuses=[from_status], to_status=to_status)

    delivery.refresh_from_db()
    assert delivery.status == from_status
    assert history(delivery) == []


def test_a_delivery_in_another_status_is_left_alone_and_gets_no_history(in_acme):
    [delivery] = deliveries([S.SENT])

    moved = delivery_move(delivery.pk, from_status=S.QUEUED, to_status=S.SENDING)

    assert moved is None
    delivery.refresh_from_db()
    assert delivery.status == S.SENT
    assert history(delivery) == []


def test_a_second_claim_of_the_same_delivery_loses(in_acme):
    [delivery] = deliveries([S.QUEUED])

    first = delivery_move(
        delivery.pk, from_status=S.QUEUED, to_status=S.SENDING, count_attempt=True
    )
    second = delivery_move(delivery.pk, from_status=S.QUEUED, to_status=S.SENDING)

    assert first == {"id": delivery.pk, "attempts": 1}
    assert second is None
    assert history(delivery) == [(S.QUEUED, S.SENDING)]


def test_a_batch_move_records_each_rows_own_from_status_and_per_row_values(in_acme):
    dead, failed, sent = deliveries([S.DEAD, S.FAILED, S.SENT])

    moved = deliveries_move(
        [dead.pk, failed.pk, sent.pk],
        from_statuses=[S.DEAD, S.FAILED],
        to_status=S.QUEUED,
        row_values={"max_attempts": [7, 9, 11], "detail": ["one", "two", "three"]},
        returning=("id", "max_attempts"),
    )

    assert moved == [(dead.pk, 7), (failed.pk, 9)]
    assert history(dead) == [(S.DEAD, S.QUEUED)]
    assert history(failed) == [(S.FAILED, S.QUEUED)]
    assert list(
        DeliveryEvent.objects.filter(delivery__in=[dead, failed])
        .order_by("delivery_id")
        .values_list("detail", flat=True)
    ) == ["one", "two"]
    sent.refresh_from_db()
    assert sent.status == S.SENT and history(sent) == []


# A status value written in SQL or in an ORM write: `status = 'queued'`, `status IN ('dead'`,
# `status=DeliveryStatus.X` in an update(...) call.
_SQL_STATUS = re.compile(
    r"status\s*(=|IN\s*\(|<>)\s*'(" + "|".join(S.values) + r")'", re.IGNORECASE
)
_ORM_WRITE = re.compile(r"\.update\([^)]*\bstatus\s*=", re.DOTALL)


def test_no_code_outside_the_state_package_writes_or_spells_a_delivery_status_in_sql():
    offenders = []
    for path in sorted((ROOT / "notifications").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(("notifications/pipeline/state/", "notifications/migrations/")):
            continue
        source = path.read_text()
        if _SQL_STATUS.search(source) or _ORM_WRITE.search(source):
            offenders.append(relative)
    assert offenders == []
