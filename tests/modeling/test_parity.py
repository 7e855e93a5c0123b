"""One feature vector and one score per customer and cut-off, whichever path computes it:
training (the snapshot row through ``LoadedModel.matrix``), batch scoring (the rows a
run reads and the scores it stores) and real time (``compute_features`` for one
customer, ``score_customer``)."""

from __future__ import annotations

import numpy as np
import pytest

from modeling import scoring
from modeling.features import compute_features
from modeling.models import Score
from modeling.registry import active_models
from modeling.scoring import score_customer, scoring_run_start, scoring_run_step
from modeling.snapshots import feature_snapshot_load
from tests.modeling.scoring_setup import CUTOFF, NOW, bank_build, caches_clear


@pytest.fixture
def bank(settings, tmp_path, db):
    settings.MODEL_DIR = tmp_path
    yield bank_build()
    caches_clear()


def test_training_batch_and_real_time_paths_give_identical_vectors_and_scores(bank):
    # batch: a run over the whole snapshot
    run = scoring_run_start(snapshot=bank.snapshot, actor=None, now=NOW)
    while scoring_run_step(run_id=run.pk, batch_size=16):
        pass
    models = active_models()
    table = scoring._run_table(bank.snapshot, scoring._model_columns(models))  # the rows the run scored
    training = feature_snapshot_load(bank.snapshot)

    for customer in bank.customers[::7]:
        cid = customer.pk
        realtime_row = compute_features(cutoff=CUTOFF, customer_ids=[cid], known_at=bank.snapshot.known_at)
        realtime = score_customer(customer_id=cid, now=bank.snapshot.known_at, cutoff=CUTOFF, with_reasons=0)
        stored = {s.product_id: s for s in Score.objects.filter(run=run, customer_id=cid)}
        assert set(stored) == set(models) == set(realtime.by_product())

        for product_id, model in models.items():
            x_training = model.matrix(training.loc[[cid]])
            x_batch = model.matrix(table.frame.loc[[cid]])
            x_realtime = model.matrix(realtime_row)
            np.testing.assert_array_equal(x_training, x_batch)
            np.testing.assert_array_equal(x_training, x_realtime)

            raw = float(model.predict_raw(x_training)[0])
            propensity = float(model.calibrate(np.array([raw]))[0])
            live = realtime.by_product()[product_id]
            assert stored[product_id].raw_score == raw == live.raw_score
            assert stored[product_id].propensity == propensity == live.propensity


def test_the_whole_feature_rows_agree_too_not_only_the_model_inputs(bank):
    training = feature_snapshot_load(bank.snapshot)
    cid = bank.customers[3].pk

    realtime_row = compute_features(cutoff=CUTOFF, customer_ids=[cid], known_at=bank.snapshot.known_at)

    assert list(realtime_row.columns) == list(training.columns)
    assert realtime_row.dtypes.to_dict() == training.dtypes.to_dict()
    assert realtime_row.loc[cid].to_dict() == training.loc[cid].to_dict()
