"""Quiet hours and send windows: when a delivery may go out, in the subscriber's local time.

A window is `{"start": "HH:MM", "end": "HH:MM"}` on the local wall clock of a time zone; it
may cross midnight (22:00–07:00), never be empty (start == end). The subscriber's
`quiet_hours` say when not to send; the workflow's `send_window` says when sending is
allowed. Pure functions: `now` is always passed in.

DST (resolved with zoneinfo, tested for America/New_York):
- a wall time that does not exist on a day (in the spring-forward gap) means the first
  moment after the gap: quiet hours ending at 02:30 end at 03:00 on that day;
- a wall time that occurs twice (fall back) means its first occurrence: quiet hours ending
  at 01:30 end at the first 01:30, and do not start again in the repeated hour.
A window is the span of real time from the start's instant to the first end instant after
it, so its length follows the wall clock across a transition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# A subscriber without a (known) time zone is scheduled in UTC.
DEFAULT_TIMEZONE = "UTC"
# Enough boundary jumps to find the first allowed moment across two windows (4 per day).
_MAX_STEPS = 12


class WindowError(ValueError):
    """A window that is not `{"start": "HH:MM", "end": "HH:MM"}` with start != end."""


@dataclass(frozen=True)
class Window:
    start: time
    end: time

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True)
class Hold:
    """A delivery must wait until `until` (aware, UTC); `reason` says why, in local time."""

    until: datetime
    reason: str


def _parse_time(value: Any, name: str) -> time:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise WindowError(f"`{name}` must be a time of day as HH:MM (00:00 to 23:59).")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def window_parse(value: Any) -> Window | None:
    """A window from its JSON form; None for null. Raises WindowError when it is not valid."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise WindowError('Expected an object such as {"start": "22:00", "end": "07:00"}.')
    unknown = sorted(set(value) - {"start", "end"})
    if unknown:
        raise WindowError(f"Unknown field(s): {', '.join(map(str, unknown))}.")
    start = _parse_time(value.get("start"), "start")
    end = _parse_time(value.get("end"), "end")
    if start == end:
        raise WindowError("`start` and `end` must differ.")
    return Window(start=start, end=end)


def zone_of(name: str | None) -> ZoneInfo:
    """The subscriber's time zone; UTC when none (or an unknown one) is set."""
    try:
        return ZoneInfo(name or DEFAULT_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_instant(day: date, wall: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) the local clock of `tz` shows `wall` on `day`.

    A wall time in a DST gap resolves to the end of the gap; a repeated one to its first
    occurrence.
    """
    candidate = datetime.combine(day, wall, tzinfo=tz)  # fold=0: the first occurrence
    if candidate.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == candidate.replace(
        tzinfo=None
    ):
        return candidate.astimezone(UTC)
    # In a gap: the first minute after it that exists (gaps are whole minutes long).
    moment = datetime.combine(day, wall)
    for _ in range(24 * 60):
        moment += timedelta(minutes=1)
        aware = moment.replace(tzinfo=tz)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == moment:
            return aware.astimezone(UTC)
    return candidate.astimezone(UTC)  # pragma: no cover - no zone has a day-long gap


def _span(day: date, window: Window, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The window that starts on local `day`, as [start, end) in UTC."""
    start = local_instant(day, window.start, tz)
    end_day = day if window.end > window.start else day + timedelta(days=1)
    end = local_instant(end_day, window.end, tz)
    return start, end


def window_end_if_inside(*, now: datetime, tz: ZoneInfo, window: Window) -> datetime | None:
    """The end of the window `now` falls inside (UTC), or None when it is outside."""
    today = now.astimezone(tz).date()
    for day in (today - timedelta(days=1), today):
        start, end = _span(day, window, tz)
        if start <= now < end:
            return end
    return None


def window_next_start(*, now: datetime, tz: ZoneInfo, window: Window) -> datetime:
    """The first start of the window after `now` (UTC)."""
    today = now.astimezone(tz).date()
    for offset in range(3):
        start = local_instant(today + timedelta(days=offset), window.start, tz)
        if start > now:
            return start
    raise AssertionError("a window starts at least once a day")  # pragma: no cover


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def hold_until(
    *,
    now: datetime,
    timezone_name: str | None,
    quiet_hours: Window | None,
    send_window: Window | None,
) -> Hold | None:
    """When a non-critical delivery due at `now` may go, if not now; None to send at once.

    Inside the subscriber's quiet hours it waits for their end; outside the workflow's send
    window, for its next start; both together, for the first moment that satisfies both. When
    the two never overlap, the quiet hours win: the delivery goes when they end.
    """
    if quiet_hours is None and send_window is None:
        return None
    tz = zone_of(timezone_name)
    zone = timezone_name if timezone_name and tz.key == timezone_name else DEFAULT_TIMEZONE
    moment = now
    reasons: list[str] = []
    first_quiet_end = None
    for _ in range(_MAX_STEPS):
        quiet_end = (
            window_end_if_inside(now=moment, tz=tz, window=quiet_hours) if quiet_hours else None
        )
        if quiet_end is not None:
            first_quiet_end = first_quiet_end or quiet_end
            moment = quiet_end
            reasons.append(f"quiet hours until {_local(moment, tz)} {zone}")
            continue
        if send_window is not None and (
            window_end_if_inside(now=moment, tz=tz, window=send_window) is None
        ):
            moment = window_next_start(now=moment, tz=tz, window=send_window)
            reasons.append(f"outside the send window until {_local(moment, tz)} {zone}")
            continue
        break
    else:
        # The send window lies wholly inside the quiet hours: the quiet hours win.
        moment = first_quiet_end or moment
        reasons = [f"quiet hours until {_local(moment, tz)} {zone}"]
    if moment == now:
        return None
    reason = reasons[0] if len(reasons) == 1 else f"{reasons[0]}, then {reasons[-1]}"
    return Hold(until=moment, reason=reason)
