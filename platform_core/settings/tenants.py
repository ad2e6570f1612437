"""django-tenants: one PostgreSQL schema per tenant."""

from .env import env

SHARED_APPS = [
    # Before django_tenants: our create_tenant command replaces the one it ships.
    "tenants",
    "django_tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "corsheaders",
    "platform_core",
    # No models: registers the provider connectors at start.
    "connectors",
]

TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    # Audit history: triggers (pgtrigger) write each change of a configuration row to its
    # event table, in the tenant's own schema, with the actor from `pghistory.context`.
    "pgtrigger",
    "pghistory",
    "notifications",
]

INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "platform_core.urls.public"
# `SET search_path` once per tenant switch (each request, each task sets its tenant), not
# before every statement; django-tenants issues it again after a rollback, which undoes it.
TENANT_LIMIT_SET_CALLS = True

# Hosts that serve the platform itself (platform admin; the API authenticated by key).
CLARION_PUBLIC_HOSTS = env.list("CLARION_PUBLIC_HOSTS", default=["localhost", "127.0.0.1"])
# Default domain suffix for new tenants: `create_tenant acme` → `acme.<this>`.
CLARION_TENANT_DOMAIN_SUFFIX = env.str("CLARION_TENANT_DOMAIN_SUFFIX", default="localhost")
# Seconds each process keeps a host's tenant and an API key (tenants/cache.py); 0: off.
CLARION_AUTH_CACHE_SECONDS = env.int("CLARION_AUTH_CACHE_SECONDS", default=5)

# Audit history (django-pghistory): each event row is stamped with the time it was written,
# so the changes of one transaction keep their order.
PGHISTORY_CREATED_AT_FUNCTION = "clock_timestamp()"
