"""One row at a time through LightGBM's single-row C API gives the booster's own numbers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from modeling.propensity import PREDICT_THREADS
from modeling.registry import active_models
from modeling.snapshots import feature_snapshot_load
from tests.modeling.scoring_setup import bank_build

pytestmark = pytest.mark.django_db


def test_single_rows_match_the_boosters_predictions_and_contributions():
    bank = bank_build(30)
    models = active_models()
    table = feature_snapshot_load(bank.snapshot)
    for model in models.values():
        x = model.matrix(table)
        expected = model.booster.predict(x, num_threads=PREDICT_THREADS)
        contributions = model.booster.predict(x, pred_contrib=True, num_threads=PREDICT_THREADS)
        for i in range(len(x)):
            assert model.predict_raw(x[i : i + 1])[0] == expected[i]
            assert np.array_equal(model.contributions(x[i : i + 1])[0], contributions[i])


def test_threads_each_use_their_own_handles():
    bank_build(30)
    model = next(iter(active_models().values()))
    x = np.zeros((1, len(model.features)))
    expected = model.booster.predict(x, num_threads=PREDICT_THREADS)[0]
    seen: list[float] = []

    def work() -> None:
        for _ in range(200):
            seen.append(float(model.predict_raw(x)[0]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(seen) == {expected}


def test_a_row_of_the_wrong_width_is_refused():
    bank_build(30)
    model = next(iter(active_models().values()))
    with pytest.raises(ValueError, match="features"):
        model.predict_raw(np.zeros((1, len(model.features) + 1)))
