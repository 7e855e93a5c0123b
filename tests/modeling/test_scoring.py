"""Batch scoring runs (chunks, cursor, idempotency, races) and real-time scoring."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.db import connection

from core.models import AuditEvent
from customers import choices
from modeling import scoring
from modeling.feature_catalogue import feature_key
from modeling.features import compute_features
from modeling.models import ModelStatus, Score, ScoringRun, ScoringRunStatus
from modeling.propensity import MissingFeatureError
from modeling.registry import active_models, model_version_load
from modeling.scoring import (
    NoActiveModelError,
    ScoringError,
    UnknownCustomerError,
    latest_scores,
    score_customer,
    score_features,
    scoring_run_start,
    scoring_run_step,
    scoring_runs_stale,
)
from modeling.snapshots import feature_snapshot_load
from modeling.tasks import score_customers_task
from tests.factories.customers import CustomerFactory, InteractionFactory, ProductFactory
from tests.modeling.scoring_setup import CUTOFF, NOW, bank_build, caches_clear, model_register, views_of


@pytest.fixture
def bank(settings, tmp_path, db):
    settings.MODEL_DIR = tmp_path
    settings.BANK_TIME_ZONE = "Europe/London"
    yield bank_build()
    caches_clear()


def _per_key(run: ScoringRun) -> Counter:
    return Counter(Score.objects.filter(run=run).values_list("customer_id", "product_id"))


def _ids(bank) -> list[int]:
    return sorted(c.pk for c in bank.customers)


# --- starting a run ---------------------------------------------------------------------------------------------------


def test_a_run_records_the_active_versions_and_counts_the_snapshot_customers(bank, bianca):
    run = scoring_run_start(snapshot=bank.snapshot, actor=bianca, now=NOW)

    assert run.status == ScoringRunStatus.PENDING
    assert run.total == 60
    assert run.cursor == 0
    assert set(run.model_versions.all()) == set(bank.versions.values())
    event = AuditEvent.objects.get(action="scoring_run.start")
    assert event.actor == bianca
    assert event.after["model_versions"] == {"HOME_MORTGAGE": 1, "TRAVEL_CARD": 1, "EASY_SAVER": 1}


def test_it_refuses_to_start_a_run_without_an_active_model(bank, bianca):
    for version in bank.versions.values():
        version.status = ModelStatus.RETIRED
        version.save()

    with pytest.raises(NoActiveModelError, match="rules alone"):
        scoring_run_start(snapshot=bank.snapshot, actor=bianca, now=NOW)
    assert not ScoringRun.objects.exists()


def test_it_refuses_a_snapshot_that_lacks_a_feature_an_active_model_needs(bank, bianca):
    version = bank.versions["EASY_SAVER"]
    version.features = [*version.features, "views_7d_retired_product"]
    version.save()

    with pytest.raises(MissingFeatureError, match="views_7d_retired_product"):
        scoring_run_start(snapshot=bank.snapshot, actor=bianca, now=NOW)


def test_without_a_snapshot_a_run_scores_features_as_of_today_in_bank_time(bank, bianca):
    now = dt.datetime(2026, 6, 9, 23, 30, tzinfo=dt.UTC)  # 00:30 on 10 June in London (summer time)
    run = scoring_run_start(snapshot=None, actor=bianca, now=now)

    assert run.snapshot.cutoff == dt.date(2026, 6, 10)
    assert run.total == 60


# --- stepping -----------------------------------------------------------------------------------------------------


def test_steps_walk_the_customers_in_chunks_after_the_cursor(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    ids = _ids(bank)

    assert scoring_run_step(run_id=run.pk, batch_size=25) is True
    run.refresh_from_db()
    assert (run.cursor, run.done, run.status) == (ids[24], 25, ScoringRunStatus.RUNNING)
    assert run.started_at is not None
    assert run.finished_at is None
    assert Score.objects.filter(run=run).count() == 25 * 3

    assert scoring_run_step(run_id=run.pk, batch_size=25) is True
    assert scoring_run_step(run_id=run.pk, batch_size=25) is False
    run.refresh_from_db()
    assert (run.cursor, run.done, run.status) == (ids[-1], 60, ScoringRunStatus.DONE)
    assert run.finished_at is not None
    per_key = _per_key(run)
    assert len(per_key) == 60 * 3
    assert set(per_key.values()) == {1}

    # a finished run has nothing more to do
    assert scoring_run_step(run_id=run.pk, batch_size=25) is False
    assert Score.objects.filter(run=run).count() == 60 * 3


def test_scores_carry_their_model_version_and_equal_the_models_predictions(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    while scoring_run_step(run_id=run.pk):
        pass
    frame = feature_snapshot_load(bank.snapshot)
    for product in bank.products:
        version = bank.versions[product.code]
        model = model_version_load(version)
        expected_raw = model.predict_raw(model.matrix(frame))
        rows = list(Score.objects.filter(run=run, product=product).order_by("customer_id"))
        assert {row.model_version_id for row in rows} == {version.pk}
        assert [row.customer_id for row in rows] == list(frame.index)
        np.testing.assert_array_equal([row.raw_score for row in rows], expected_raw)
        np.testing.assert_array_equal([row.propensity for row in rows], model.calibrate(expected_raw))


def test_only_the_versions_active_at_the_start_score_the_run(bank, bianca):
    # a candidate for a fourth product never scores
    gold = ProductFactory(code="GOLD_CARD", name="Gold card", family=choices.ProductFamily.CARD)
    model_register(gold, bank.snapshot, labels=np.arange(60) % 2, status=ModelStatus.CANDIDATE)
    run = scoring_run_start(snapshot=bank.snapshot, actor=bianca, now=NOW)
    # a model retired after the start still scores this run: the run keeps what it recorded
    retired = bank.versions["TRAVEL_CARD"]
    retired.status = ModelStatus.RETIRED
    retired.save()

    while scoring_run_step(run_id=run.pk):
        pass

    scored = set(Score.objects.filter(run=run).values_list("product__code", "model_version_id").distinct())
    assert scored == {(code, version.pk) for code, version in bank.versions.items()}


# --- idempotency and races -----------------------------------------------------------------------------------------


def test_running_the_task_twice_leaves_exactly_one_score_per_customer_and_product(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)

    first = score_customers_task.delay(run_id=run.pk, batch_size=7).get()
    second = score_customers_task.delay(run_id=run.pk, batch_size=7).get()

    assert first == {"ok": True, "run_id": run.pk, "more": False}
    assert second == first
    run.refresh_from_db()
    assert run.status == ScoringRunStatus.DONE
    assert run.done == 60
    per_key = _per_key(run)
    assert len(per_key) == 180
    assert set(per_key.values()) == {1}


def test_a_crash_between_writing_and_committing_leaves_the_chunk_to_replay(bank, monkeypatch):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    real_write = scoring._scores_write

    def write_then_die(chunk):
        real_write(chunk)
        raise RuntimeError("worker killed before commit")

    # when the process dies after writing the chunk's scores, before the commit
    monkeypatch.setattr(scoring, "_scores_write", write_then_die)
    with pytest.raises(RuntimeError, match="killed"):
        scoring_run_step(run_id=run.pk, batch_size=20)

    # then nothing of the chunk is left and the cursor has not moved
    run.refresh_from_db()
    assert (run.cursor, run.done) == (0, 0)
    assert not Score.objects.filter(run=run).exists()

    # and the replay writes it once
    monkeypatch.setattr(scoring, "_scores_write", real_write)
    while scoring_run_step(run_id=run.pk, batch_size=20):
        pass
    per_key = _per_key(run)
    assert len(per_key) == 180
    assert set(per_key.values()) == {1}


def test_a_chunk_replayed_over_stray_rows_keeps_one_score_each(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    first_ids = _ids(bank)[:10]
    version = bank.versions["HOME_MORTGAGE"]
    # rows of the first chunk written by something that was not a step (a partial old write)
    Score.objects.bulk_create(
        Score(run=run, customer_id=c, product=version.product, model_version=version, propensity=-1.0, raw_score=-1.0)
        for c in first_ids
    )

    scoring_run_step(run_id=run.pk, batch_size=10)

    per_key = _per_key(run)
    assert len(per_key) == 30
    assert set(per_key.values()) == {1}
    assert not Score.objects.filter(run=run, propensity=-1.0).exists()


def test_two_interleaved_claims_of_one_chunk_write_it_once(bank, monkeypatch):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    real_score = scoring._chunk_score
    calls = []

    def score_while_another_worker_steps(*args, **kwargs):
        chunk = real_score(*args, **kwargs)
        calls.append(chunk.after)
        if len(calls) == 1:
            # after we computed the chunk, another worker claims and commits the same one
            assert scoring_run_step(run_id=run.pk, batch_size=10) is True
        return chunk

    monkeypatch.setattr(scoring, "_chunk_score", score_while_another_worker_steps)
    more = scoring_run_step(run_id=run.pk, batch_size=10)

    # both computed the chunk after cursor 0; only the other worker's write landed
    assert calls == [0, 0]
    assert more is True
    run.refresh_from_db()
    assert (run.cursor, run.done) == (_ids(bank)[9], 10)
    assert Score.objects.filter(run=run).count() == 30
    monkeypatch.setattr(scoring, "_chunk_score", real_score)
    while scoring_run_step(run_id=run.pk, batch_size=10):
        pass
    per_key = _per_key(run)
    assert len(per_key) == 180
    assert set(per_key.values()) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_stepping_one_run_at_once_never_write_a_chunk_twice(settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the race needs PostgreSQL")
    settings.MODEL_DIR = tmp_path
    bank = bank_build(n_customers=40)
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    steps: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            while scoring_run_step(run_id=run.pk, batch_size=3):
                steps.append(1)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    run.refresh_from_db()
    assert run.status == ScoringRunStatus.DONE
    assert run.done == 40
    per_key = _per_key(run)
    assert len(per_key) == 120
    assert set(per_key.values()) == {1}
    caches_clear()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_writer_thread_commits_while_the_next_chunk_is_scored(settings, tmp_path, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the pipeline runs on PostgreSQL only")
    settings.MODEL_DIR = tmp_path
    bank = bank_build(n_customers=40)
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    real_commit = scoring._chunk_commit
    threads = []

    def commit(chunk, **kwargs):
        threads.append(threading.current_thread().name)
        return real_commit(chunk, **kwargs)

    monkeypatch.setattr(scoring, "_chunk_commit", commit)
    reported = []

    more = scoring.scoring_run_work(
        run_id=run.pk, batch_size=7, max_seconds=None, progress=lambda done, total: reported.append(done)
    )

    assert more is False
    assert len(threads) == 6
    assert all(name.startswith("scoring-writer") for name in threads)
    assert reported == [7, 14, 21, 28, 35, 40]
    run.refresh_from_db()
    assert run.status == ScoringRunStatus.DONE
    per_key = _per_key(run)
    assert len(per_key) == 120
    assert set(per_key.values()) == {1}
    caches_clear()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pipelined_run_that_loses_a_claim_goes_on_step_by_step(settings, tmp_path, monkeypatch, wait_for):
    if connection.vendor != "postgresql":
        pytest.skip("the pipeline runs on PostgreSQL only")
    settings.MODEL_DIR = tmp_path
    bank = bank_build(n_customers=40)
    ids = _ids(bank)
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    real_score = scoring._chunk_score
    calls = []

    def score(run_id, cursor, *args):
        calls.append(cursor)
        if len(calls) == 2:
            # while the writer commits the first chunk, another worker steps the run
            # and writes the chunk this one is about to score
            wait_for(lambda: ScoringRun.objects.get(pk=run_id).cursor == ids[9])
            assert scoring_run_step(run_id=run_id, batch_size=10) is True
        return real_score(run_id, cursor, *args)

    monkeypatch.setattr(scoring, "_chunk_score", score)

    more = scoring.scoring_run_work(run_id=run.pk, batch_size=10, max_seconds=None)

    assert more is False
    assert calls[:3] == [0, ids[9], ids[9]]  # ours, ours ahead, and the other worker's inside it
    per_key = _per_key(run)
    assert len(per_key) == 120
    assert set(per_key.values()) == {1}
    caches_clear()


# --- the task, failures, the sweeper -------------------------------------------------------------------------------


def test_the_task_hands_the_rest_to_a_fresh_task_when_its_time_is_up(bank, monkeypatch):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    monkeypatch.setattr(scoring, "SCORING_TASK_SECONDS", 0.0)
    sent = []
    monkeypatch.setattr(score_customers_task, "apply_async", lambda **kw: sent.append(kw))

    # run as a worker would (not eagerly): one chunk, then re-enqueue
    result = score_customers_task.run(run_id=run.pk, batch_size=25)

    assert result == {"ok": True, "run_id": run.pk, "more": True}
    assert sent == [{"kwargs": {"run_id": run.pk, "batch_size": 25, "max_seconds": None}, "queue": None}]
    run.refresh_from_db()
    assert run.done == 25


def test_a_tampered_artifact_fails_the_run_with_the_reason(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    version = bank.versions["EASY_SAVER"]
    booster = Path(django_settings.MODEL_DIR) / version.artifact_path / "booster.txt"
    booster.write_text(booster.read_text().replace("Tree=0", "Tree=0\n", 1))
    caches_clear()

    result = score_customers_task.delay(run_id=run.pk).get()

    assert result["ok"] is False
    assert "tampered" in result["error"]
    run.refresh_from_db()
    assert run.status == ScoringRunStatus.FAILED
    assert "booster.txt" in run.error
    assert run.finished_at is not None
    assert not Score.objects.filter(run=run).exists()
    # a failed run is not stepped again, and a task sent again says it failed
    assert scoring_run_step(run_id=run.pk) is False
    again = score_customers_task.delay(run_id=run.pk).get()
    assert again["ok"] is False
    assert "tampered" in again["error"]


def test_a_step_that_cannot_go_on_raises_a_scoring_error(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    (Path(django_settings.MODEL_DIR) / bank.snapshot.path).write_bytes(b"not parquet")
    caches_clear()

    with pytest.raises(ScoringError, match="does not match its recorded sha256"):
        scoring_run_step(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == ScoringRunStatus.FAILED


def test_a_run_that_stopped_moving_is_found_by_the_sweeper(bank):
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    scoring_run_step(run_id=run.pk, batch_size=10)
    ScoringRun.objects.filter(pk=run.pk).update(updated_at=NOW - dt.timedelta(hours=1))

    assert scoring_runs_stale(now=NOW) == [run.pk]
    assert scoring_runs_stale(now=NOW - dt.timedelta(minutes=55)) == []


def test_latest_scores_come_from_the_latest_finished_run(bank):
    customer = bank.customers[0]
    assert latest_scores(customer.pk) == {}
    old = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    score_customers_task.delay(run_id=old.pk)
    unfinished = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    scoring_run_step(run_id=unfinished.pk, batch_size=5)

    scores = latest_scores(customer.pk)

    assert set(scores) == {p.pk for p in bank.products}
    assert {s.run_id for s in scores.values()} == {old.pk}


# --- real time ----------------------------------------------------------------------------------------------------


def test_real_time_scores_every_active_product_best_first_with_reasons_for_the_best(bank):
    customer = bank.customers[1]

    result = score_customer(customer_id=customer.pk, now=NOW, with_reasons=2)

    assert result.available is True
    assert result.customer_id == customer.pk
    assert result.cutoff == dt.date(2026, 3, 3)  # tomorrow in bank time: today's events count
    assert [s.product_code for s in result.scores] != []
    assert {s.product_id for s in result.scores} == {p.pk for p in bank.products}
    propensities = [s.propensity for s in result.scores]
    assert propensities == sorted(propensities, reverse=True)
    assert [bool(s.reasons) or i >= 2 for i, s in enumerate(result.scores)] == [True, True, True]
    assert result.scores[2].reasons == ()
    for s in result.scores:
        assert s.model_version_id == bank.versions[s.product_code].pk


def test_real_time_reasons_name_the_product_whose_page_was_viewed(bank):
    # customer 2 viewed the mortgage page 4 times in the week before the cut-off
    assert [views_of(2, k) for k in range(3)] == [4, 2, 0]
    customer = bank.customers[2]

    result = score_customer(customer_id=customer.pk, now=NOW, cutoff=CUTOFF, with_reasons=3)

    texts = [r.text for s in result.scores for r in s.reasons]
    assert "Viewed the Home mortgage page 4 times in the last 7 days" in texts


def test_real_time_counts_events_of_today(bank):
    customer = bank.customers[0]
    mortgage = bank.products[0]
    before = compute_features(cutoff=dt.date(2026, 3, 3), customer_ids=[customer.pk], known_at=NOW)
    InteractionFactory(
        customer=customer,
        product=mortgage,
        event_type=choices.InteractionType.PRODUCT_PAGE_VIEW,
        occurred_at=NOW - dt.timedelta(minutes=5),
        received_at=NOW - dt.timedelta(minutes=4),
    )

    after = compute_features(cutoff=dt.date(2026, 3, 3), customer_ids=[customer.pk], known_at=NOW)
    result = score_customer(customer_id=customer.pk, now=NOW)

    key = f"views_7d_{feature_key(mortgage.code)}"
    assert after.at[customer.pk, key] == before.at[customer.pk, key] + 1
    expected = score_features(after, active_models(), with_reasons=0)
    assert [s.propensity for s in result.scores] == [s.propensity for s in expected.scores]


def test_without_an_active_model_real_time_scoring_says_it_is_unavailable(bank):
    for version in bank.versions.values():
        version.status = ModelStatus.RETIRED
        version.save()
    caches_clear()

    result = score_customer(customer_id=bank.customers[0].pk, now=NOW)

    assert result.available is False
    assert result.scores == ()
    assert "rules alone" in result.message


def test_a_feature_missing_at_scoring_time_is_named(bank):
    frame = compute_features(cutoff=CUTOFF, customer_ids=[bank.customers[0].pk], known_at=NOW)

    with pytest.raises(MissingFeatureError, match="views_30d_travel_card"):
        score_features(frame.drop(columns=["views_30d_travel_card"]), active_models())


def test_real_time_scoring_of_an_unknown_customer_says_so(bank):
    late = CustomerFactory(customer_since=dt.date(2026, 6, 1))

    with pytest.raises(UnknownCustomerError, match=str(late.pk)):
        score_customer(customer_id=late.pk, now=NOW, cutoff=CUTOFF)
    with pytest.raises(UnknownCustomerError):
        score_customer(customer_id=10**9, now=NOW)
