"""The tenant URLs plus two views that exist only to drive the error handler in tests."""

from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from platform_core.api.serializers import StrictSerializer
from platform_core.urls.tenant import (  # noqa: F401
    handler400,
    handler403,
    handler404,
    handler500,
)
from platform_core.urls.tenant import urlpatterns as tenant_patterns


class EchoSerializer(StrictSerializer):
    name = serializers.CharField(max_length=10)
    count = serializers.IntegerField(min_value=0, required=False)


class EchoView(APIView):
    def post(self, request):
        serializer = EchoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class BoomView(APIView):
    def get(self, request):
        raise RuntimeError("secret internal detail")


urlpatterns = [
    path("api/v1/_test/echo", EchoView.as_view()),
    path("api/v1/_test/boom", BoomView.as_view()),
    *tenant_patterns,
]
