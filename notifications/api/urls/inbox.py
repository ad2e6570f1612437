"""API routes: the in-app inbox."""

from django.urls import path

from notifications.api.views import inbox as views

urlpatterns = [
    path(
        "inbox/<str:subscriber_id>/messages",
        views.InboxMessageListView.as_view(),
        name="inbox-messages",
    ),
    path("inbox/<str:subscriber_id>/count", views.InboxCountView.as_view(), name="inbox-count"),
    path(
        "inbox/<str:subscriber_id>/messages/<int:message_id>/read",
        views.InboxMessageReadView.as_view(),
        name="inbox-message-read",
    ),
    path(
        "inbox/<str:subscriber_id>/read-all",
        views.InboxReadAllView.as_view(),
        name="inbox-read-all",
    ),
    path(
        "inbox/<str:subscriber_id>/seen-all",
        views.InboxSeenAllView.as_view(),
        name="inbox-seen-all",
    ),
]
