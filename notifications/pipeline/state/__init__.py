"""The only code that changes the status of a delivery or a notification.

- `moves`: the statuses and the one table of allowed moves (`MOVES`); a move not in it is
  refused (`IllegalMove`) before any SQL runs.
- `sql`: the statements. Every move is a conditional update (`... WHERE status = ANY(<from>)`,
  rows locked) whose `RETURNING` rows feed the history insert in the same statement — a move
  and its history are written together or not at all, and two workers racing for a delivery
  never both win. Fan-out's bulk insert (`deliveries_create`) writes its first history rows
  the same way.
- `deliveries`: the named moves (claim, sent, failed, released, held, skipped, digested, woken,
  re-dispatched, replayed, opened, and the outcomes providers and tracking report:
  `deliveries_record_outcome`); `notifications`: a notification's.

No other module writes a status or spells a status value in SQL.
"""

from notifications.pipeline.state.deliveries import (
    deliveries_claim_due,
    deliveries_claim_lost,
    deliveries_digest_into,
    deliveries_finish_locked,
    deliveries_hold,
    deliveries_mark_opened,
    deliveries_record_outcome,
    deliveries_release_queued,
    deliveries_requeue,
    delivery_claim,
    delivery_mark_failed,
    delivery_mark_sent,
    delivery_record_outcome,
    delivery_release,
    delivery_skip,
)
from notifications.pipeline.state.moves import (
    MOVES,
    NEW,
    OPENABLE,
    OUTCOME_STATUS,
    REPLAYABLE,
    WAITING,
    IllegalMove,
    check_move,
)
from notifications.pipeline.state.notifications import (
    notification_claim,
    notification_mark_failed,
    notification_mark_processed,
    notifications_claim,
    notifications_claim_stale,
    notifications_mark_processed,
)
from notifications.pipeline.state.sql import (
    DELIVERY_TABLE,
    NOTIFICATION_TABLE,
    Event,
    deliveries_create,
    deliveries_lock_queued,
    deliveries_move,
    delivery_move,
)

__all__ = [
    "DELIVERY_TABLE",
    "MOVES",
    "NEW",
    "NOTIFICATION_TABLE",
    "OPENABLE",
    "OUTCOME_STATUS",
    "REPLAYABLE",
    "WAITING",
    "Event",
    "IllegalMove",
    "check_move",
    "deliveries_claim_due",
    "deliveries_claim_lost",
    "deliveries_create",
    "deliveries_digest_into",
    "deliveries_finish_locked",
    "deliveries_hold",
    "deliveries_lock_queued",
    "deliveries_mark_opened",
    "deliveries_move",
    "deliveries_record_outcome",
    "deliveries_release_queued",
    "deliveries_requeue",
    "delivery_claim",
    "delivery_mark_failed",
    "delivery_mark_sent",
    "delivery_move",
    "delivery_record_outcome",
    "delivery_release",
    "delivery_skip",
    "notification_claim",
    "notification_mark_failed",
    "notification_mark_processed",
    "notifications_claim",
    "notifications_claim_stale",
    "notifications_mark_processed",
]
