"""API routes: subscribers."""

urlpatterns: list = []
