"""Celery discovers tasks here; each lives beside the service it wraps."""

from customers.events.tasks import *  # noqa: F403
from customers.importing.tasks import *  # noqa: F403
