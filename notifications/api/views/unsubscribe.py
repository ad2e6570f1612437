"""The one-click unsubscribe page of an email's List-Unsubscribe URL (RFC 8058).

`POST` (what a mail client's one-click sends, `List-Unsubscribe=One-Click`, no cookies, no
CSRF token; or the page's own button) turns the subscriber's preference for that workflow
and channel off. `GET` only shows a confirmation page with that button: link scanners and
prefetchers follow GETs, so a GET never unsubscribes. A forged or altered token → 404.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from connectors.channels import Channel
from notifications.services.feedback import subscriber_unsubscribe, unsubscribe_target

_TEMPLATE = "notifications/unsubscribe.html"


def _label(channel: str) -> str:
    try:
        return Channel(channel).label.lower()
    except ValueError:
        return channel


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request, token: str):
    """GET: the confirmation page; POST: unsubscribe (idempotent)."""
    if request.method == "POST":
        done = subscriber_unsubscribe(token=token)
        if done is None:
            return render(request, _TEMPLATE, {"missing": True}, status=404)
        _, workflow, channel = done
        context = {"done": True, "workflow": workflow, "channel_label": _label(channel)}
        return render(request, _TEMPLATE, context)
    target = unsubscribe_target(token=token)
    if target is None:
        return render(request, _TEMPLATE, {"missing": True}, status=404)
    context = {"workflow": target.workflow_key, "channel_label": _label(target.channel)}
    response = render(request, _TEMPLATE, context)
    response["Cache-Control"] = "no-store"
    return response
