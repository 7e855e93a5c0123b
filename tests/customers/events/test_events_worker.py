"""Events posted, committed, and the follow-up run by a real Celery worker (.ci/run: Redis + PostgreSQL)."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from core.models import TaskRun, TaskRunState
from core.services import api_client_create
from customers.models import InboundEvent
from tests.customers.events.conftest import URL, batch, consent_event, transaction_event
from tests.factories.customers import AccountFactory, CustomerFactory

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
    # Without a broker, tasks run in-process and no worker could pick this up.
    pytest.mark.skipif(not os.environ.get("CELERY_BROKER_URL"), reason="needs CELERY_BROKER_URL and a worker"),
]


def test_a_worker_runs_the_follow_up_of_a_committed_batch(settings, wait_for):
    # given the customers' own follow-up is configured
    settings.EVENT_FOLLOW_UP_TASKS = ["customers.events_received"]
    customer = CustomerFactory(external_id="C000123")
    AccountFactory(external_id="A0000456", customer=customer)
    _, token = api_client_create(name="mobile-app", scopes=["events"], actor=None)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    # when a batch is accepted (and committed: no test transaction here)
    response = api.post(URL, batch(transaction_event(), consent_event()), format="json")
    assert response.status_code == 202, response.content
    # then a worker runs the follow-up and records what arrived
    run = wait_for(lambda: TaskRun.objects.filter(name="customers.events_received", state=TaskRunState.SUCCESS).first())
    assert run.result["received"] == 2
    assert run.result["by_type"] == {"consent": 1, "transaction": 1}
    assert InboundEvent.objects.count() == 2
