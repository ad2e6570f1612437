"""Configuration API: templates (per channel and locale) and their A/B variants."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from notifications.api.serializers.config import (
    TemplateInSerializer,
    TemplateOutSerializer,
    TemplatePreviewInSerializer,
    TemplatePreviewOutSerializer,
    TemplateReplaceSerializer,
    TemplateSavedSerializer,
)
from notifications.api.views.config.common import (
    INVALID,
    NOT_FOUND,
    TIMESTAMPS,
    Docs,
    ListView,
    conflict_response,
    not_found,
    validated,
)
from notifications.models import Channel
from notifications.selectors.config import template_get, template_list, templates_for_key
from notifications.selectors.event_schemas import template_schema_warnings
from notifications.selectors.preview import template_preview
from notifications.services.config import template_create, template_delete, template_upsert

_LOCALE_PARAM = OpenApiParameter(
    "locale",
    OpenApiTypes.STR,
    description="The template's locale; default: the server's default locale (`en`).",
)
_DELETE_LOCALE_PARAM = OpenApiParameter(
    "locale",
    OpenApiTypes.STR,
    description="Delete only this locale; without it, every locale of the key is deleted.",
)

_TEMPLATE_CONTENT = {
    "key": "order-shipped",
    "channel": "email",
    "locale": "en",
    "subject": "Your order {{ payload.order_id }} is on its way",
    "body": "<p>Hi {{ subscriber.first_name }}, order {{ payload.order_id }} has shipped.</p>",
    "format": "html",
}
_TEMPLATE_VARIANTS = [
    {
        "name": "short",
        "weight": 1,
        "subject": "Shipped: {{ payload.order_id }}",
        "body": "<p>Order {{ payload.order_id }} is on its way.</p>",
    }
]
_TEMPLATES = Docs(
    "templates",
    TemplateOutSerializer,
    "Order shipped email",
    request={**_TEMPLATE_CONTENT, "variants": _TEMPLATE_VARIANTS},
    response={**_TEMPLATE_CONTENT, "cta_url": "", "variants": _TEMPLATE_VARIANTS, **TIMESTAMPS},
)
# A save answers with the template and its `warnings` (see `_with_warnings`).
_SAVED = Docs(
    "templates",
    TemplateSavedSerializer,
    "Order shipped email",
    request={**_TEMPLATE_CONTENT, "variants": _TEMPLATE_VARIANTS},
    response={
        **_TEMPLATE_CONTENT,
        "cta_url": "",
        "variants": _TEMPLATE_VARIANTS,
        "warnings": [],
        **TIMESTAMPS,
    },
)


def _with_warnings(template) -> dict:
    """A saved template, with `warnings`: payload keys it reads that its events' schemas do
    not declare (the save is never refused for them)."""
    sources = [template.subject, template.body, template.cta_url]
    for variant in template.variants.all():
        sources += [variant.subject, variant.body]
    template.warnings = template_schema_warnings(template_key=template.key, sources=sources)
    return TemplateSavedSerializer(template).data


class TemplateListView(ListView):
    ordering = ("key", "locale")

    @_TEMPLATES.list(
        "List templates",
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, description="Only this key (all locales)."),
            OpenApiParameter("channel", OpenApiTypes.STR, enum=Channel.values),
            OpenApiParameter("locale", OpenApiTypes.STR),
        ],
    )
    def get(self, request):
        params = request.query_params
        queryset = template_list(
            key=params.get("key"), channel=params.get("channel"), locale=params.get("locale")
        )
        return self._page(queryset, TemplateOutSerializer)

    @_SAVED.create(
        "Create a template",
        description=(
            "Templates are sandboxed Jinja2 and may use `payload`, `subscriber` and `actor`. "
            "One that does not parse or names anything else is refused with 400. "
            "409 `template_exists` if the key already exists in this locale."
        ),
        request=TemplateInSerializer,
        conflict="template_exists",
    )
    def post(self, request):
        template = template_create(**validated(TemplateInSerializer, request))
        return Response(_with_warnings(template), status=status.HTTP_201_CREATED)


class TemplateDetailView(GenericAPIView):
    @_TEMPLATES.get("Get a template in one locale", parameters=[_LOCALE_PARAM])
    def get(self, request, key: str):
        key = key.strip()
        locale = request.query_params.get("locale") or settings.CLARION_DEFAULT_LOCALE
        template = template_get(key=key, locale=locale)
        if template is None:
            others = [t.locale for t in templates_for_key(key=key)]
            hint = f"; it exists in: {', '.join(others)}" if others else ""
            raise not_found(f"No template '{key}' in locale '{locale}'{hint}.")
        return Response(TemplateOutSerializer(template).data)

    @extend_schema(
        summary="Create or replace a template in one locale",
        description=(
            "Replaces the template and its whole set of variants. The locale comes from the "
            "body, `?locale=` or the default. Every locale of a key has the same channel."
        ),
        tags=["templates"],
        parameters=[_LOCALE_PARAM],
        request=TemplateReplaceSerializer,
        responses={
            200: TemplateSavedSerializer,
            201: TemplateSavedSerializer,
            400: INVALID,
            409: conflict_response("template_in_use"),
        },
        examples=[_SAVED.request_example, _SAVED.response_example],
    )
    def put(self, request, key: str):
        key = key.strip()
        data = validated(
            TemplateReplaceSerializer,
            request,
            context={"key": key, "locale": request.query_params.get("locale")},
        )
        template, created = template_upsert(**data)
        return Response(
            _with_warnings(template),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @_TEMPLATES.delete(
        "Delete a template",
        description=(
            "Deletes one locale (`?locale=`) or every locale of the key. 409 `template_in_use` "
            "if that would leave a workflow step without its template."
        ),
        parameters=[_DELETE_LOCALE_PARAM],
        conflict="template_in_use",
    )
    def delete(self, request, key: str):
        key = key.strip()
        template_delete(key=key, locale=request.query_params.get("locale") or None)
        return Response(status=status.HTTP_204_NO_CONTENT)


def preview_data(preview) -> dict:
    """The preview response: subject and body, and for email the HTML and text parts."""
    message = preview.message
    data = {
        "subject": message.subject,
        "body": message.body,
        "channel": preview.channel,
        "locale": preview.locale,
        "variant": preview.variant,
    }
    if preview.channel == Channel.EMAIL:
        data.update(html=message.body, text=message.text_body)
    if message.cta_url:
        data["cta_url"] = message.cta_url
    return data


class TemplatePreviewView(GenericAPIView):
    @extend_schema(
        summary="Preview a template",
        description=(
            "Renders the template as a send to that subscriber would: the same locale and "
            "A/B variant choice (unless `locale` or `variant` is given), the same context, the "
            "same sandbox and limits. Sends nothing and writes nothing. A render error is a 400 "
            "`render_error` naming the template, the field and the line; an unknown "
            "`subscriber_id`, `actor` or `variant` a 400 naming it."
        ),
        tags=["templates"],
        request=TemplatePreviewInSerializer,
        responses={200: TemplatePreviewOutSerializer, 400: INVALID, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "Order shipped email for Ada",
                request_only=True,
                value={"payload": {"order_id": "A-1"}, "subscriber_id": "ada"},
            ),
            OpenApiExample(
                "Order shipped email for Ada",
                response_only=True,
                value={
                    "subject": "Your order A-1 is on its way",
                    "body": "<p>Hi Ada, order A-1 has shipped.</p>",
                    "html": "<p>Hi Ada, order A-1 has shipped.</p>",
                    "text": "Hi Ada, order A-1 has shipped.",
                    "channel": "email",
                    "locale": "en",
                    "variant": "control",
                },
            ),
        ],
    )
    def post(self, request, key: str):
        data = validated(TemplatePreviewInSerializer, request)
        preview = template_preview(
            key=key.strip(),
            payload=data.get("payload"),
            subscriber=data.get("subscriber_id") or data.get("subscriber"),
            actor=data.get("actor"),
            locale=data.get("locale"),
            variant=data.get("variant"),
        )
        return Response(TemplatePreviewOutSerializer(preview_data(preview)).data)
