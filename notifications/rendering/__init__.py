"""Tenant-authored content, validated on save and rendered safely.

Templates are written by tenants' operators and marketers, so they are untrusted code: they
run in Jinja2's `ImmutableSandboxedEnvironment` (`sandbox`), see only `payload`, `subscriber`
and `actor` (`validation`), fail loudly on anything undefined, and run within a budget of time,
size and argument widths (`limits`), checked on save by a trial render and enforced at every
send. `selection` picks the template for a locale and the A/B variant for a subscriber,
`render` turns them into a channel-neutral `RenderedMessage`, `batch` renders a batch of
deliveries with one cache, and `text` writes the plain-text part of an HTML email.

https://jinja.palletsprojects.com/en/stable/sandbox/
"""

from notifications.rendering.batch import (
    SUBSCRIBER_FIELDS,
    Renderer,
    render_context,
    subscriber_context,
    subscriber_context_from_row,
    template_for,
)
from notifications.rendering.render import RenderError, RenderLimitError, render_message
from notifications.rendering.sandbox import MAX_POWER_BITS, MAX_REPEAT_LENGTH
from notifications.rendering.selection import choose_variant, select_template
from notifications.rendering.text import html_to_text
from notifications.rendering.validation import (
    CHANNELS,
    CONTEXT_NAMES,
    TemplateCheck,
    payload_fields,
    template_check,
    template_errors,
    template_uses_subscriber,
)

__all__ = [
    "CHANNELS",
    "CONTEXT_NAMES",
    "MAX_POWER_BITS",
    "MAX_REPEAT_LENGTH",
    "SUBSCRIBER_FIELDS",
    "RenderError",
    "RenderLimitError",
    "Renderer",
    "choose_variant",
    "html_to_text",
    "payload_fields",
    "render_context",
    "render_message",
    "select_template",
    "subscriber_context",
    "subscriber_context_from_row",
    "TemplateCheck",
    "template_check",
    "template_errors",
    "template_for",
    "template_uses_subscriber",
]
