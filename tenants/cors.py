"""Per-tenant CORS origins for the inbox: django-cors-headers' `check_request_enabled` signal.

The settings' `CORS_ALLOWED_ORIGINS` apply to every tenant; this adds the origins of the
request's tenant (chosen by its host, or on the platform host by its API key). Only the
inbox paths (`CORS_URLS_REGEX`) are considered, so no other endpoint answers cross-origin.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest

from tenants.models import normalize_origin


def tenant_origin_allowed(sender, request: HttpRequest, **kwargs) -> bool:
    """True when the request's Origin is one of its tenant's `cors_allowed_origins`."""
    if not re.match(settings.CORS_URLS_REGEX, request.path_info):
        return False
    tenant = getattr(request, "tenant", None)
    origin = request.headers.get("origin")
    if tenant is None or not origin:
        return False
    return normalize_origin(origin) in (tenant.cors_allowed_origins or [])
