"""Request and response shapes of the audit log."""

from __future__ import annotations

from rest_framework import serializers

from notifications.models.audit import AUDIT_RESOURCE_NAMES


class AuditLogQuerySerializer(serializers.Serializer):
    resource = serializers.ChoiceField(choices=AUDIT_RESOURCE_NAMES)
    key = serializers.CharField(required=False, max_length=200)
    since = serializers.DateTimeField(required=False)


class AuditEntrySerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Stable id of this change.")
    resource = serializers.CharField()
    key = serializers.CharField(
        help_text="The resource's key: a route's event, a template's or workflow's key, "
        "an integration's id."
    )
    action = serializers.ChoiceField(choices=["create", "update", "delete"])
    actor = serializers.CharField(
        allow_null=True,
        help_text="`api_key:<prefix>`, `admin:<email>` or `cli:<command>`; null when the "
        "change was made outside of those (a database shell).",
    )
    at = serializers.DateTimeField()
    before = serializers.JSONField(allow_null=True, help_text="null for a create.")
    after = serializers.JSONField(allow_null=True, help_text="null for a delete.")
