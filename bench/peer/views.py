"""The peer's one endpoint: POST /api/v1/events/trigger, validated by a serializer."""

from django.urls import path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from peer.models import PeerEvent


class TriggerSerializer(serializers.Serializer):
    event = serializers.RegexField(r"^[a-z0-9][a-z0-9._-]*$", max_length=200)
    to = serializers.ListField(child=serializers.CharField(max_length=200), min_length=1)
    payload = serializers.DictField(required=False, default=dict)
    transaction_id = serializers.CharField(max_length=200)


class Trigger(APIView):
    def post(self, request):
        body = TriggerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = PeerEvent.objects.create(
            event=body.validated_data["event"],
            transaction_id=body.validated_data["transaction_id"],
            recipients=body.validated_data["to"],
            payload=body.validated_data["payload"],
        )
        return Response({"id": row.pk, "status": "accepted"}, status=202)


urlpatterns = [path("api/v1/events/trigger", Trigger.as_view())]
