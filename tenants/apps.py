from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from tenants import schema  # noqa: F401  (registers the OpenAPI auth extensions)
        from tenants.cors import tenant_origin_allowed

        check_request_enabled.connect(tenant_origin_allowed, dispatch_uid="tenant-cors-origins")
