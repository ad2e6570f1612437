import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform_core.settings")
application = get_wsgi_application()


def _urlconfs_load() -> None:
    """Import every URLconf, with the views and serializers it names, as the process starts
    rather than inside the first requests each one serves."""
    from django.conf import settings
    from django.urls import get_resolver

    for urlconf in {settings.ROOT_URLCONF, settings.PUBLIC_SCHEMA_URLCONF}:
        get_resolver(urlconf).reverse_dict  # noqa: B018 (reading it fills every resolver)


_urlconfs_load()
