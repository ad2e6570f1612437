"""Tracked links and open pixels, at the root of a tenant's host (`/t/…`)."""

from django.urls import path

from notifications.api.views import provider_feedback as views

urlpatterns = [
    path("t/c/<str:token>", views.tracked_link, name="tracked-link"),
    path("t/o/<str:token>.gif", views.tracked_open, name="tracked-open"),
]
