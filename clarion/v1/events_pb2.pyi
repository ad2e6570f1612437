from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_CRITICAL: _ClassVar[Priority]
    PRIORITY_HIGH: _ClassVar[Priority]
    PRIORITY_NORMAL: _ClassVar[Priority]
    PRIORITY_LOW: _ClassVar[Priority]
PRIORITY_UNSPECIFIED: Priority
PRIORITY_CRITICAL: Priority
PRIORITY_HIGH: Priority
PRIORITY_NORMAL: Priority
PRIORITY_LOW: Priority

class Window(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class Subscriber(_message.Message):
    __slots__ = ("subscriber_id", "email", "phone", "first_name", "last_name", "locale", "timezone", "data", "quiet_hours")
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    QUIET_HOURS_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: str
    email: str
    phone: str
    first_name: str
    last_name: str
    locale: str
    timezone: str
    data: _struct_pb2.Struct
    quiet_hours: Window
    def __init__(self, subscriber_id: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., locale: _Optional[str] = ..., timezone: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., quiet_hours: _Optional[_Union[Window, _Mapping]] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("subscriber_id", "subscriber", "topic")
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: str
    subscriber: Subscriber
    topic: str
    def __init__(self, subscriber_id: _Optional[str] = ..., subscriber: _Optional[_Union[Subscriber, _Mapping]] = ..., topic: _Optional[str] = ...) -> None: ...

class Actor(_message.Message):
    __slots__ = ("subscriber_id", "subscriber")
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: str
    subscriber: Subscriber
    def __init__(self, subscriber_id: _Optional[str] = ..., subscriber: _Optional[_Union[Subscriber, _Mapping]] = ...) -> None: ...

class TriggerRequest(_message.Message):
    __slots__ = ("event", "to", "payload", "actor", "priority", "transaction_id")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    event: str
    to: _containers.RepeatedCompositeFieldContainer[Recipient]
    payload: _struct_pb2.Struct
    actor: Actor
    priority: Priority
    transaction_id: str
    def __init__(self, event: _Optional[str] = ..., to: _Optional[_Iterable[_Union[Recipient, _Mapping]]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., actor: _Optional[_Union[Actor, _Mapping]] = ..., priority: _Optional[_Union[Priority, str]] = ..., transaction_id: _Optional[str] = ...) -> None: ...

class TriggerResponse(_message.Message):
    __slots__ = ("notification_id", "transaction_id", "status", "replayed")
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    notification_id: str
    transaction_id: str
    status: str
    replayed: bool
    def __init__(self, notification_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., status: _Optional[str] = ..., replayed: _Optional[bool] = ...) -> None: ...

class BulkTriggerRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[TriggerRequest]
    def __init__(self, events: _Optional[_Iterable[_Union[TriggerRequest, _Mapping]]] = ...) -> None: ...

class FieldMessages(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, messages: _Optional[_Iterable[str]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message", "fields")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: FieldMessages
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[FieldMessages, _Mapping]] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    fields: _containers.MessageMap[str, FieldMessages]
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., fields: _Optional[_Mapping[str, FieldMessages]] = ...) -> None: ...

class BulkTriggerResult(_message.Message):
    __slots__ = ("status", "notification_id", "transaction_id", "replayed", "error")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    status: str
    notification_id: str
    transaction_id: str
    replayed: bool
    error: Error
    def __init__(self, status: _Optional[str] = ..., notification_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., replayed: _Optional[bool] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class BulkTriggerResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BulkTriggerResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BulkTriggerResult, _Mapping]]] = ...) -> None: ...
