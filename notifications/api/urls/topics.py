"""API routes: topics."""

from django.urls import path

from notifications.api.views.topics import (
    TopicDetailView,
    TopicListCreateView,
    TopicSubscribersView,
)

urlpatterns = [
    path("topics", TopicListCreateView.as_view(), name="topics"),
    path("topics/<str:key>", TopicDetailView.as_view(), name="topic-detail"),
    path("topics/<str:key>/subscribers", TopicSubscribersView.as_view(), name="topic-subscribers"),
]
