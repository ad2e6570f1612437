"""API routes: inbox."""

urlpatterns: list = []
