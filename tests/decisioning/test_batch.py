"""Batch next-best-action runs, the replay command and caps under concurrency."""

from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection, connections

from customers.models import ContactHistory
from decisioning import batch as batch_module
from decisioning.batch import batch_run_start, batch_run_step, batch_run_work
from decisioning.decisions import decision_make
from decisioning.inputs import caches_clear
from decisioning.models import BatchRunStatus, Decision, DecisionKind
from decisioning.replay import decision_replay
from decisioning.tasks import run_batch_task
from modeling.models import OnlineFeatures
from tests.decisioning.decision_setup import NOW, decision_bank_build, policy, rule, rules_publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    caches_clear()
    return decision_bank_build()


def test_a_batch_run_decides_once_for_every_customer_with_the_same_engine(world):
    rules_publish(
        world.editor,
        [
            rule(
                "no-mortgage",
                "eligibility",
                "offer",
                "home_mortgage",
                {"field": "customer.age", "op": "gt", "value": 99},
            )
        ],
    )
    run = batch_run_start(channel="email", max_results=2, actor=world.editor, now=NOW, batch_size=25)
    assert run.total == 60
    assert list(run.chunks.values_list("size", flat=True)) == [25, 25, 10]
    assert batch_run_work(run_id=run.pk, max_seconds=None) is False
    run.refresh_from_db()
    assert (run.status, run.done) == (BatchRunStatus.DONE, 60)
    assert not run.chunks.filter(done=False).exists()
    decisions = Decision.objects.filter(batch_run=run)
    assert decisions.count() == 60
    assert run.offers_made == sum(len(d.offers) for d in decisions) == 120
    assert not ContactHistory.objects.filter(source="decision").exists()  # proposed, not made
    for d in decisions:
        assert "home_mortgage" not in {o["offer_code"] for o in d.offers}
        assert all(1 <= len(o["reasons"]) <= 4 for o in d.offers)
    # the batch path and the real-time path agree on the same customer at the same moment
    mine = decisions.get(customer=world.customer)
    caches_clear()
    realtime = decision_make(
        customer_id=world.customer.external_id, channel="email", max_results=2, kind=DecisionKind.SIMULATION, now=NOW
    )
    assert realtime.result["offers"] == mine.offers
    assert all(decision_replay(d).match for d in decisions)


def test_a_batch_run_computes_missing_online_features(world):
    OnlineFeatures.objects.all().delete()
    run = batch_run_start(channel="push", actor=None, now=NOW)
    batch_run_work(run_id=run.pk, max_seconds=None)
    assert OnlineFeatures.objects.count() == 60
    assert Decision.objects.filter(batch_run=run).count() == 60


def test_a_worker_that_dies_mid_chunk_leaves_the_chunk_for_the_next(world, monkeypatch):
    run = batch_run_start(channel="email", actor=None, now=NOW, batch_size=20)
    real = batch_module.decisions_insert_many

    def dies_after_writing(decisions):
        real(decisions)
        raise RuntimeError("worker killed")

    monkeypatch.setattr(batch_module, "decisions_insert_many", dies_after_writing)
    with pytest.raises(RuntimeError):
        batch_run_step(run_id=run.pk)
    assert not Decision.objects.filter(batch_run=run).exists()
    assert run.chunks.filter(done=False).count() == 3
    monkeypatch.setattr(batch_module, "decisions_insert_many", real)
    batch_run_work(run_id=run.pk, max_seconds=None)
    assert Decision.objects.filter(batch_run=run).count() == 60
    run.refresh_from_db()
    assert (run.done, run.status) == (60, BatchRunStatus.DONE)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_in_parallel_share_a_run_and_decide_each_customer_once():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: workers cannot share a run there")
    caches_clear()
    decision_bank_build()
    run = batch_run_start(channel="email", actor=None, now=NOW, batch_size=7)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            batch_run_work(run_id=run.pk, max_seconds=None)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert Decision.objects.filter(batch_run=run).count() == 60
    assert Decision.objects.filter(batch_run=run).values("customer").distinct().count() == 60
    run.refresh_from_db()
    assert (run.done, run.status) == (60, BatchRunStatus.DONE)


def test_the_batch_task_is_idempotent(world):
    run = batch_run_start(channel="email", actor=None, now=NOW)
    run_batch_task.apply(args=[run.pk]).get()
    run_batch_task.apply(args=[run.pk]).get()
    assert Decision.objects.filter(batch_run=run).count() == 60


def test_a_batch_run_refuses_bad_input(world):
    with pytest.raises(ValidationError) as exc:
        batch_run_start(channel="fax", audience={"segment": "nope"}, max_results=0, actor=None, now=NOW)
    assert set(exc.value.message_dict) == {"channel", "audience", "max_results"}


def test_replay_decisions_reports_every_decision_matching(world):
    for i, customer in enumerate(world.bank.customers[:5]):
        decision_make(customer_id=customer.external_id, channel="email", now=NOW + dt.timedelta(minutes=i))
    out = io.StringIO()
    call_command("replay_decisions", "--sample", "5", "--json", stdout=out)
    assert out.getvalue().strip() == (
        '{"replayed": 5, "matched": 5, "mismatched": 0, "scores_recomputed": 15, "scores_unavailable": 0}'
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_hundred_concurrent_decisions_for_one_customer_never_exceed_a_cap():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: decisions cannot race there")
    caches_clear()
    world = decision_bank_build(20)
    policy("email-weekly", "channel_cap", channel="email", limit=2, period_days=7)
    policy("all-monthly", "global_cap", limit=5, period_days=30)
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for k in range(10):
                decision_make(
                    customer_id=world.customer.external_id,
                    channel="email" if (n + k) % 2 else "push",
                    now=NOW + dt.timedelta(seconds=n * 10 + k),
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    made = ContactHistory.objects.filter(customer=world.customer, source="decision")
    assert Decision.objects.count() == 100
    # the global cap is spent whichever channel came first; the email cap is never exceeded
    assert made.count() == 5
    assert made.filter(channel="email").count() <= 2


@pytest.mark.django_db(transaction=True)
def test_a_chunk_finds_the_catalogue_snapshot_written_before_its_transaction():
    from django.test.utils import CaptureQueriesContext

    world = decision_bank_build()
    caches_clear()
    run = batch_run_start(channel="email", max_results=2, actor=world.editor, now=NOW, batch_size=25)
    with CaptureQueriesContext(connection) as queries:
        batch_run_work(run_id=run.pk, max_seconds=None)
    snapshot_queries = [q for q in queries.captured_queries if "decisioning_cataloguesnapshot" in q["sql"]]
    assert Decision.objects.filter(batch_run=run).count() == 60
    assert Decision.objects.filter(batch_run=run).values("catalogue_id").distinct().count() == 1
    assert len(snapshot_queries) <= 2  # read, and written once: not once per customer of the first chunk
