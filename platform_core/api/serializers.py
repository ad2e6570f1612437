"""Serializer building blocks shared by every API."""

import threading

from django.utils.functional import cached_property
from rest_framework import serializers

_bound_fields = threading.local()


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not declare, naming them, instead of silently dropping them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


class FieldsBoundOncePerThread:
    """A serializer whose fields are deep-copied and bound once per class and thread, not
    for every instance: DRF copies every declared field (re-running its `__init__`) each
    time a serializer is made, which for a hot input body costs more than validating it.

    Only for input serializers made with `data` alone (no `context`, `instance` or
    `partial`): the shared fields stay bound to the first instance of their thread, and
    they are never used by two threads at once.
    """

    @cached_property
    def fields(self):
        cache = _bound_fields.__dict__.setdefault("fields", {})
        fields = cache.get(type(self))
        if fields is None:
            fields = cache[type(self)] = super().fields
        return fields
