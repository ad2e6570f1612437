from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class CurrentTenantView(APIView):
    """The tenant and key a request authenticates as: a quick check that a key works."""

    @extend_schema(
        summary="Who am I",
        tags=["tenant"],
        responses=inline_serializer(
            "CurrentTenant",
            {
                "slug": serializers.CharField(),
                "name": serializers.CharField(),
                "inbox_secret": serializers.CharField(
                    help_text="Signs X-Subscriber-Hash for the in-app inbox."
                ),
                "api_key": inline_serializer(
                    "CurrentApiKey",
                    {"prefix": serializers.CharField(), "name": serializers.CharField()},
                ),
            },
        ),
        examples=[
            OpenApiExample(
                "Demo tenant",
                value={
                    "slug": "demo",
                    "name": "Demo",
                    "api_key": {"prefix": "ck_3k9x2m1a", "name": "default"},
                },
                response_only=True,
            )
        ],
    )
    def get(self, request):
        key = request.auth
        return Response(
            {
                "slug": request.user.tenant.slug,
                "name": request.user.tenant.name,
                "inbox_secret": request.user.tenant.inbox_secret,
                "api_key": {"prefix": key.prefix, "name": key.name},
            }
        )
