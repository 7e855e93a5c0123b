"""Fixtures for the web UI tests: a customer with history, a task run, a client per persona."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from core.models import TaskRun, TaskRunState, User
from customers.models import Customer
from tests.factories.customers import customer_with_history


@pytest.fixture(autouse=True)
def _plain_static_files(settings, tmp_path_factory):
    """Pages link their CSS and JS through ``{% static %}``; tests run without
    ``collectstatic``, so they use the plain storage instead of the manifest one."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    # An existing (empty) root keeps WhiteNoise from warning about a missing one.
    settings.STATIC_ROOT = tmp_path_factory.getbasetemp() / "static-root"
    settings.STATIC_ROOT.mkdir(exist_ok=True)


@pytest.fixture
def jane(db) -> Customer:
    """Customer C000123, Jane Okafor, with a year of history up to now."""
    return customer_with_history(now=timezone.now())


@pytest.fixture
def task_run(db, bianca) -> TaskRun:
    now = timezone.now()
    return TaskRun.objects.create(
        task_id="run-1",
        name="customers.import_files",
        label="Import 2 files",
        state=TaskRunState.STARTED,
        done=40,
        total=160,
        message="transactions: row 40 of 160",
        requested_by=bianca,
        started_at=now - dt.timedelta(seconds=75),
    )


@pytest.fixture
def client_as():
    """``client_as(user)`` gives a test client signed in as that person (``None``: anonymous)."""

    def make(user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make
