"""Content negotiation that answers at once for what nearly every API client asks."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class Negotiation(DefaultContentNegotiation):
    """DRF's negotiation, without parsing what needs no parsing: a request with no `Accept`,
    `*/*`, or exactly the first renderer's media type gets the first renderer, as DRF's own
    negotiation would choose. Anything else (a list, a quality, a format override) is
    negotiated by DRF, and what no renderer offers is still a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        accept = request.META.get("HTTP_ACCEPT", "*/*")
        first = renderers[0]
        format_override = self.settings.URL_FORMAT_OVERRIDE
        if (
            accept in ("*/*", first.media_type)
            and format_suffix is None
            and not (format_override and format_override in request.query_params)
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
