"""What one render may spend: time, characters built, characters output, argument sizes.

Every render (a send, a preview, the trial render on save) carries a `Budget`. The sandbox
charges it as the template runs — loop iterations and calls tick its clock, operations that
build strings or lists are checked before they allocate, and the output is counted as it is
produced — so a runaway template stops at the first limit instead of holding the process.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from jinja2.sandbox import SecurityError

# Widths, precisions and counts a template passes to something that allocates that many
# characters or items (center, indent, '%10s', '{:>10}', batch, slice, tojson indent).
MAX_WIDTH_SETTING = "RENDER_MAX_WIDTH"
BUILD_SETTING = "RENDER_MAX_BUILD_CHARS"
TIME_SETTING = "RENDER_TIME_BUDGET_SECONDS"
# How many steps a size estimate walks between two looks at the clock.
_CLOCK_EVERY = 4096
# A render gets at most this many times its CPU budget in wall-clock time.
_WALL_FACTOR = 2


_RENDER_SETTINGS = (
    "RENDER_TIME_BUDGET_SECONDS",
    "RENDER_MAX_OUTPUT",
    "RENDER_MAX_BUILD_CHARS",
    "RENDER_MAX_WIDTH",
)
# The settings above, read once: a budget is made for every message sent.
_limits: tuple[float, dict[str, int], int, int, int] | None = None


def _settings() -> tuple[float, dict[str, int], int, int, int]:
    global _limits
    if _limits is None:
        caps = dict(settings.RENDER_MAX_OUTPUT)
        _limits = (
            settings.RENDER_TIME_BUDGET_SECONDS,
            caps,
            max(caps.values()),
            settings.RENDER_MAX_BUILD_CHARS,
            settings.RENDER_MAX_WIDTH,
        )
    return _limits


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    global _limits
    if setting in _RENDER_SETTINGS:
        _limits = None


setting_changed.connect(_settings_changed)


def output_setting(channel: str) -> str:
    """The setting holding a channel's output cap."""
    return f"RENDER_MAX_OUTPUT_{channel.upper()}"


class RenderLimitExceeded(SecurityError):
    """A render went over one of its limits; `limit` names the setting."""

    def __init__(self, message: str, *, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class Budget:
    """The limits of one render and what it has spent so far."""

    __slots__ = (
        "build_cap",
        "built",
        "channel",
        "cpu_started",
        "deadline",
        "hard_deadline",
        "output",
        "output_cap",
        "seconds",
        "started",
        "width",
    )

    def __init__(
        self,
        *,
        channel: str = "",
        seconds: float | None = None,
        output_cap: int | None = None,
    ) -> None:
        default_seconds, caps, largest, self.build_cap, self.width = _settings()
        self.seconds = default_seconds if seconds is None else seconds
        now = time.monotonic()
        self.deadline = now + self.seconds
        self.hard_deadline = now + self.seconds * _WALL_FACTOR
        self.started = now
        # Read at the first tick (the CPU clock costs a system call; most templates never tick).
        self.cpu_started: float | None = None
        self.channel = channel
        if output_cap is None:
            output_cap = caps.get(channel, largest)
        self.output_cap = output_cap
        self.built = 0
        # Characters of the message output so far (all its fields).
        self.output = 0

    def tick(self) -> None:
        """Stop the render once its time is up.

        The budget is CPU time of this thread, so a busy host does not fail renders that are
        merely slow to get the CPU; the cheap wall clock is read on every tick and the CPU
        clock only once wall time has run past the budget. A render starved of CPU still
        stops after _WALL_FACTOR times its budget of wall time.
        """
        now = time.monotonic()
        if self.cpu_started is None:
            # Counting the time before the first tick as CPU time errs on the safe side.
            self.cpu_started = time.thread_time() - (now - self.started)
        if now <= self.deadline:
            return
        used = time.thread_time() - self.cpu_started
        if used > self.seconds or now > self.hard_deadline:
            raise RenderLimitExceeded(
                f"rendering took longer than its time budget of {self.seconds:g} s",
                limit=TIME_SETTING,
            )
        self.deadline = now + (self.seconds - used)

    def pause(self, seconds: float) -> None:
        """Leave `seconds` of work that is not the template's own (compiling) out of the budget."""
        self.deadline += seconds
        self.hard_deadline += seconds
        self.started += seconds
        if self.cpu_started is not None:
            self.cpu_started += seconds

    def spend(self, chars: int) -> None:
        """Count `chars` characters built; refuse the operation that would go over."""
        if self.built + chars > self.build_cap:
            raise RenderLimitExceeded(
                f"the template builds more than {self.build_cap:,} characters",
                limit=BUILD_SETTING,
            )
        self.built += chars

    def room(self) -> int:
        """Characters the render may still build."""
        return self.build_cap - self.built

    def check_width(self, what: str, value: Any) -> None:
        """Refuse a width, precision or count over RENDER_MAX_WIDTH."""
        if isinstance(value, int) and not isinstance(value, bool) and value > self.width:
            raise RenderLimitExceeded(
                f"{what} of {value:,} is over the limit of {self.width:,}", limit=MAX_WIDTH_SETTING
            )

    def output_exceeded(self) -> RenderLimitExceeded:
        where = f"the {self.channel} limit" if self.channel else "the limit"
        return RenderLimitExceeded(
            f"the rendered message is longer than {where} of {self.output_cap:,} characters",
            limit=output_setting(self.channel) if self.channel else "RENDER_MAX_OUTPUT_*",
        )


def text_size(value: Any, budget: Budget, limit: int | None = None) -> int:
    """How many characters `value` becomes as text, counted up to just past `limit`.

    Nested lists and dicts are walked without building their text (a list holding itself
    a million times through shared references prints as a huge string), and the walk stops
    as soon as the count is over the limit.
    """
    cls = value.__class__
    if cls is str or isinstance(value, str):
        return len(value)
    if value is None or cls is bool:
        return 5
    if cls is int:
        # str(int) is refused past 4,300 digits; a bit-length estimate costs nothing.
        return value.bit_length() * 3 // 10 + 2
    if cls is float:
        return 24
    if not isinstance(value, list | tuple | dict | set | frozenset):
        return 64
    if limit is None:
        limit = budget.room()
    total = 0
    steps = 0
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        steps += 1
        if steps % _CLOCK_EVERY == 0:
            budget.tick()
        cls = item.__class__
        if cls is str:
            total += len(item) + 4  # quotes and a separator
        elif cls is list or cls is tuple or cls is dict:
            total += 2 + 2 * len(item)
            if total > limit:
                break
            extend(item.values() if cls is dict else item)
            if cls is dict:
                extend(item.keys())
        elif isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, dict | list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            if total > limit:
                break
            extend(item)
            if isinstance(item, dict):
                extend(item.values())
        else:
            total += text_size(item, budget)
        if total > limit:
            break
    return total
