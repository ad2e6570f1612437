"""API routes: deliveries."""

urlpatterns: list = []
