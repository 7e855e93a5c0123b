"""The Celery app. Worker and beat start against Redis or RabbitMQ just by
setting ``CELERY_BROKER_URL``; every task run is recorded by ``core.task_runs``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("crossell")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
