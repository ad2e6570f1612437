"""Quiet hours and send windows in the API: `{"start": "HH:MM", "end": "HH:MM"}` or null."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from notifications.services.subscribers import normalize_window


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "properties": {
            "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
            "end": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
        },
        "required": ["start", "end"],
        "additionalProperties": False,
        "example": {"start": "22:00", "end": "07:00"},
    }
)
class WindowField(serializers.Field):
    """A daily window of local wall-clock time; may cross midnight; start != end; null clears."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return normalize_window(data)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_representation(self, value):
        return value
