from django.apps import AppConfig


class PlatformCoreConfig(AppConfig):
    name = "platform_core"
    verbose_name = "Platform"

    def ready(self) -> None:
        from platform_core import signals  # noqa: F401  (connects Celery signal handlers)
