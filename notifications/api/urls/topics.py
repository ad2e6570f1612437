"""API routes: topics."""

urlpatterns: list = []
