"""Settings of the bare peer: DRF, one app, no middleware, the benchmark's database."""

import os
from urllib.parse import urlsplit

_db = urlsplit(os.environ["DATABASE_URL"])
# The embedded server's URL names its socket folder and port in the query string.
_query = dict(part.split("=", 1) for part in _db.query.split("&") if "=" in part)

SECRET_KEY = "peer-benchmark"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "peer.views"
INSTALLED_APPS = ["django.contrib.contenttypes", "rest_framework", "peer"]
MIDDLEWARE = []
USE_TZ = True
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or _query.get("host", ""),
        "PORT": _db.port or _query.get("port", ""),
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
    }
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
