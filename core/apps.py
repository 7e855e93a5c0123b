from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import schema, task_runs  # noqa: F401  (signal handlers, OpenAPI extension)
