"""API routes: config."""

urlpatterns: list = []
