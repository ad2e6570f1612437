"""Fan-out to a subscriber's devices, shared by the push connectors (`fcm`, `webpush`).

A subscriber may have several devices (FCM tokens) or browsers (Web Push subscriptions);
a delivery goes to each. One success makes the delivery sent (retrying it would duplicate
the notification on that device); when every token or subscription is gone the error is
permanent; otherwise a transient failure is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from connectors.base import ConnectorError, PermanentError, Recipient, SendResult, TransientError

Device = TypeVar("Device")

# What sending to one device gave: its message id; None when this token or subscription is
# gone for good; or the error, transient (retry the delivery) or permanent (the same for
# every device, so the others are not tried).
DeviceOutcome = str | ConnectorError | None


def recipient_devices(recipient: Recipient, key: str, none_error: str) -> list[Any]:
    """The subscriber's non-empty device tokens or subscriptions; PermanentError if none."""
    devices = [d for d in recipient.credentials.get(key) or [] if d]
    if not devices:
        raise PermanentError(none_error)
    return devices


def fan_out(
    what: str, devices: list[Device], send_one: Callable[[Device], DeviceOutcome]
) -> SendResult:
    """Send to each device; one success makes the delivery sent (see the module docstring)."""
    sent: list[str] = []
    transient: list[TransientError] = []
    fatal: ConnectorError | None = None
    for device in devices:
        outcome = send_one(device)
        if isinstance(outcome, str):
            sent.append(outcome)
        elif isinstance(outcome, TransientError):
            transient.append(outcome)
        elif outcome is not None:
            fatal = outcome
            break
    if sent:
        return SendResult(provider_message_id=sent[0], response_code=200)
    if fatal is not None:
        raise fatal
    if transient:
        waits = [e.retry_after for e in transient if e.retry_after is not None]
        first = transient[0]
        raise TransientError(
            str(first), response_code=first.response_code, retry_after=max(waits, default=None)
        )
    raise PermanentError(
        f"{what}: all {len(devices)} of the subscriber's devices are unregistered or refused"
    )
