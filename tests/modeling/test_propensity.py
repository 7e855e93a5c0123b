"""propensity_fit, model_save and model_load on a small synthetic feature frame:
round trips, determinism, calibration that keeps the ranking, and every way an
artifact can be refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.test import override_settings
from sklearn.metrics import roc_auc_score

from modeling import propensity
from modeling.propensity import (
    ArtifactError,
    MissingFeatureError,
    model_load,
    model_save,
    propensity_fit,
)

PARAMS = {"num_boost_round": 80, "early_stopping_rounds": 20, "min_holdout_positives": 10, "min_data_in_leaf": 10}
PERIODS = ("2026-01-01", "2026-02-01", "2026-03-01")


def synthetic(rows_per_period: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Catalogue columns whose take-up depends on logins, income and region."""
    rng = np.random.default_rng(seed)
    n = rows_per_period * len(PERIODS)
    frame = pd.DataFrame(
        {
            "logins_30d": rng.poisson(4, n).astype(float),
            "income": rng.lognormal(10, 0.5, n),
            "products_held": rng.integers(1, 6, n).astype(float),
            "holds_savings": rng.random(n) < 0.4,
            "region": rng.choice(["North", "South", "Wales"], n).astype(object),
            "employment_type": rng.choice(["employed", "student", "retired"], n).astype(object),
            "age_band": rng.choice(["25-34", "65+"], n).astype(object),  # protected: never an input
        },
        index=pd.Index(np.arange(n), dtype="int64", name="customer_id"),
    )
    logit = -2.5 + 0.35 * frame["logins_30d"] + 0.8 * (frame["region"] == "Wales") - 0.5 * frame["holds_savings"]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    periods = np.repeat(np.array(PERIODS), rows_per_period)
    return frame, labels, periods


@pytest.fixture(scope="module", autouse=True)
def _one_training_thread():
    # One thread: quickest for a few hundred rows, and steady on a busy CI machine.
    with override_settings(MODEL_TRAINING_THREADS=1):
        yield


@pytest.fixture(scope="module")
def data():
    return synthetic()


@pytest.fixture(scope="module")
def fitted(data):
    frame, labels, periods = data
    return propensity_fit(frame=frame, labels=labels, periods=periods, product_code="SAVINGS", seed=42, params=PARAMS)


def saved(fitted, tmp_path: Path, name: str = "v1-test") -> tuple[Path, str]:
    return model_save(fitted=fitted, directory=tmp_path / "SAVINGS" / name, manifest_extra={"cutoffs": {"test": "x"}})


def test_a_fitted_model_uses_catalogue_model_features_only_and_learns_the_signal(fitted, data):
    frame, labels, _ = data
    model = fitted.model
    assert "age_band" not in model.features
    assert set(model.features) == {
        "logins_30d",
        "income",
        "products_held",
        "holds_savings",
        "region",
        "employment_type",
    }
    assert roc_auc_score(labels, model.predict(model.matrix(frame))) > 0.7
    assert set(list(fitted.feature_importance)[:2]) == {"logins_30d", "region"}


def test_one_row_per_customer_holds_out_the_newest_period_for_early_stopping_and_calibration(fitted, data):
    _, labels, periods = data
    assert fitted.rounds == "early_stopping"
    assert fitted.holdout["method"] == "newest_periods"
    assert fitted.holdout["periods"] == ["2026-03-01"]
    assert fitted.holdout["rows"] == 300
    assert fitted.train_rows == 600
    assert fitted.calibration["rows"] == 300
    assert fitted.calibration["positives"] == int(labels[periods == "2026-03-01"].sum())
    assert 1 <= fitted.best_iteration <= PARAMS["num_boost_round"]


def test_customers_repeated_across_periods_are_held_out_with_all_their_rows(data):
    frame, labels, periods = data
    # The same 300 customers at each of the three cut-offs, as stacked snapshots give.
    repeated = frame.set_axis(pd.Index(np.tile(np.arange(300), 3), name="customer_id"))
    fit = propensity_fit(frame=repeated, labels=labels, periods=periods, product_code="SAVINGS", seed=1, params=PARAMS)
    assert fit.holdout["method"] == "customers"
    assert fit.holdout["customers"] == 60
    assert fit.holdout["rows"] == 180
    assert fit.train_rows == 720


def test_a_single_period_holds_out_a_seeded_share_of_customers(data):
    frame, labels, _ = data
    one = np.full(len(labels), "2026-01-01")
    fit = propensity_fit(frame=frame, labels=labels, periods=one, product_code="SAVINGS", seed=1, params=PARAMS)
    assert fit.holdout["method"] == "customers"
    assert fit.holdout["rows"] == pytest.approx(0.2 * len(labels), abs=1)


def test_too_few_held_out_positives_train_a_fixed_number_of_rounds(data):
    frame, labels, periods = data
    params = {**PARAMS, "min_holdout_positives": 10_000, "fixed_rounds": 25}
    fit = propensity_fit(frame=frame, labels=labels, periods=periods, product_code="SAVINGS", seed=1, params=params)
    assert fit.rounds == "fixed"
    assert fit.best_iteration == 25
    assert fit.model.booster.current_iteration() == 25


def test_sigmoid_calibration_keeps_the_booster_ranking_exactly(fitted, data):
    frame, labels, _ = data
    model = fitted.model
    x = model.matrix(frame)
    raw = model.predict_raw(x)
    calibrated = model.predict(x)
    assert np.all(np.diff(model.calibration_y) > 0)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(calibrated[order]) >= 0)
    assert roc_auc_score(labels, calibrated) == pytest.approx(roc_auc_score(labels, raw), abs=1e-12)
    # Calibrated on the held-out period, the mean prediction there is close to its take-up rate.
    held = frame.index >= 600
    assert calibrated[held].mean() == pytest.approx(labels[held].mean(), abs=0.03)


def test_isotonic_calibration_is_available_as_data(data):
    frame, labels, periods = data
    fit = propensity_fit(
        frame=frame,
        labels=labels,
        periods=periods,
        product_code="SAVINGS",
        seed=42,
        params={**PARAMS, "calibration": "isotonic"},
    )
    assert fit.calibration["method"] == "isotonic"
    assert np.all(np.diff(fit.model.calibration_x) >= 0)
    x = fit.model.matrix(frame)
    raw, calibrated = fit.model.predict_raw(x), fit.model.predict(x)
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(calibrated[order]) >= 0)
    assert len(np.unique(calibrated)) < len(np.unique(raw))  # its steps tie scores


def test_saving_and_loading_gives_back_the_same_predictions(fitted, data, tmp_path):
    frame, _, _ = data
    path, sha = saved(fitted, tmp_path)
    assert sorted(p.name for p in path.iterdir()) == ["booster.txt", "calibrator.json", "manifest.json"]
    loaded = model_load(path=path, expected_sha256=sha, model_version_id=7)
    assert loaded.model_version_id == 7
    assert loaded.features == fitted.model.features
    assert loaded.categories == fitted.model.categories
    x = loaded.matrix(frame)
    np.testing.assert_array_equal(loaded.predict(x), fitted.model.predict(x))
    np.testing.assert_array_equal(loaded.predict(x[:1]), fitted.model.predict(x)[:1])
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["cutoffs"] == {"test": "x"}
    assert manifest["format_version"] == propensity.FORMAT_VERSION
    assert set(manifest["library_versions"]) >= {"python", "lightgbm", "scikit-learn", "numpy"}
    assert manifest["seed"] == 42
    assert manifest["params"]["deterministic"] is True


def test_the_same_data_and_seed_give_identical_artifact_hashes(data, tmp_path):
    frame, labels, periods = data
    hashes = []
    for name in ("a", "b"):
        fit = propensity_fit(frame=frame, labels=labels, periods=periods, product_code="SAVINGS", seed=3, params=PARAMS)
        hashes.append(saved(fit, tmp_path, name)[1])
    assert hashes[0] == hashes[1]
    assert (tmp_path / "SAVINGS/a/booster.txt").read_bytes() == (tmp_path / "SAVINGS/b/booster.txt").read_bytes()


def test_an_artifact_directory_is_never_overwritten(fitted, tmp_path):
    path, _ = saved(fitted, tmp_path)
    with pytest.raises(ArtifactError, match="never overwritten"):
        saved(fitted, tmp_path)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]


def test_categorical_codes_follow_the_vocabulary_and_unseen_values_become_unknown(fitted):
    model = fitted.model
    assert model.categories["region"] == ("North", "South", "Wales", "unknown")  # open: seen in training
    assert model.categories["employment_type"][-1] == "unknown"  # closed: the catalogue's vocabulary
    frame = pd.DataFrame(
        {
            "logins_30d": [1.0, 2.0],
            "income": [np.nan, 3.0],
            "products_held": [1.0, 2.0],
            "holds_savings": [True, False],
            "region": ["Wales", "Atlantis"],
            "employment_type": ["student", None],
        }
    )
    x = model.matrix(frame)
    column = {name: i for i, name in enumerate(model.features)}
    assert x[0, column["region"]] == 2.0
    assert x[1, column["region"]] == 3.0  # unknown
    assert x[1, column["employment_type"]] == float(model.categories["employment_type"].index("unknown"))
    assert list(x[:, column["holds_savings"]]) == [1.0, 0.0]
    assert np.isnan(x[0, column["income"]])
    big = pd.concat([frame] * 40, ignore_index=True)  # the batch path gives the same rows
    np.testing.assert_array_equal(model.matrix(big)[:2], x)


def test_a_missing_feature_column_is_named(fitted, data):
    frame, _, _ = data
    with pytest.raises(MissingFeatureError) as error:
        fitted.model.matrix(frame.drop(columns=["income", "region"]))
    assert isinstance(error.value, KeyError)
    assert error.value.missing == ("income", "region")
    assert str(error.value) == "missing feature column(s) of the SAVINGS model: income, region"


def test_contributions_add_up_to_the_raw_log_odds(fitted, data):
    frame, _, _ = data
    model = fitted.model
    x = model.matrix(frame.iloc[:5])
    contributions = model.contributions(x)
    assert contributions.shape == (5, len(model.features) + 1)
    raw = model.predict_raw(x)
    np.testing.assert_allclose(contributions.sum(axis=1), np.log(raw / (1 - raw)), rtol=1e-6, atol=1e-9)


def test_protected_or_undeclared_features_are_refused_as_inputs(data):
    frame, labels, periods = data
    with pytest.raises(ValueError, match="age_band .not a model input.*nonsense .not in the feature catalogue"):
        propensity_fit(
            frame=frame.assign(nonsense=1.0),
            labels=labels,
            periods=periods,
            product_code="SAVINGS",
            seed=1,
            features=["logins_30d", "age_band", "nonsense"],
        )


def test_labels_with_almost_no_positives_are_refused(data):
    frame, _, periods = data
    labels = np.zeros(len(frame))
    labels[0] = 1
    with pytest.raises(ValueError, match="at least 2 positives"):
        propensity_fit(frame=frame, labels=labels, periods=periods, product_code="SAVINGS", seed=1)


# --- Refused artifacts ----------------------------------------------------------------------------------------------


def _rewrite_manifest(path: Path, **changes) -> str:
    manifest = json.loads((path / "manifest.json").read_text())
    for key, value in changes.items():
        manifest[key] = value
    data = (json.dumps(manifest, sort_keys=True, indent=1) + "\n").encode()
    (path / "manifest.json").write_bytes(data)
    return propensity._sha256_bytes(data)


def test_a_missing_booster_file_is_refused(fitted, tmp_path):
    path, sha = saved(fitted, tmp_path)
    (path / "booster.txt").unlink()
    with pytest.raises(ArtifactError, match="booster.txt is missing"):
        model_load(path=path, expected_sha256=sha)


def test_a_missing_artifact_directory_is_refused(tmp_path):
    with pytest.raises(ArtifactError, match="is missing"):
        model_load(path=tmp_path / "nowhere", expected_sha256="0" * 64)


def test_a_tampered_booster_is_refused(fitted, tmp_path):
    path, sha = saved(fitted, tmp_path)
    text = (path / "booster.txt").read_text()
    (path / "booster.txt").write_text(text.replace("leaf_value=", "leaf_value=9", 1))
    with pytest.raises(ArtifactError, match="booster.txt does not match its sha256.*tampered"):
        model_load(path=path, expected_sha256=sha)


def test_a_tampered_calibrator_is_refused(fitted, tmp_path):
    path, sha = saved(fitted, tmp_path)
    (path / "calibrator.json").write_text('{"method": "sigmoid", "x": [0, 1], "y": [1, 1]}')
    with pytest.raises(ArtifactError, match="calibrator.json does not match"):
        model_load(path=path, expected_sha256=sha)


def test_an_edited_manifest_is_refused(fitted, tmp_path):
    path, sha = saved(fitted, tmp_path)
    _rewrite_manifest(path, seed=43)
    with pytest.raises(ArtifactError, match="does not match the registered sha256"):
        model_load(path=path, expected_sha256=sha)


def test_a_wrong_format_version_is_refused(fitted, tmp_path):
    path, _ = saved(fitted, tmp_path)
    sha = _rewrite_manifest(path, format_version=propensity.FORMAT_VERSION + 1)
    with pytest.raises(ArtifactError, match="format version 2, this Crossell reads 1"):
        model_load(path=path, expected_sha256=sha)


def test_an_artifact_built_by_another_lightgbm_minor_version_is_refused(fitted, tmp_path):
    path, _ = saved(fitted, tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    sha = _rewrite_manifest(path, library_versions={**manifest["library_versions"], "lightgbm": "3.3.5"})
    with pytest.raises(ArtifactError, match="built with lightgbm 3.3.5"):
        model_load(path=path, expected_sha256=sha)


def test_a_manifest_that_is_not_json_is_refused(fitted, tmp_path):
    path, _ = saved(fitted, tmp_path)
    (path / "manifest.json").write_bytes(b"not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        model_load(path=path, expected_sha256=propensity._sha256_bytes(b"not json"))


def test_refit_trains_the_shipped_booster_on_every_row_and_calibrates_it_out_of_fold(data, monkeypatch):
    frame, labels, periods = data
    trained_rows = []
    real_train = propensity.lgb.train

    def counting_train(params, train_set, *args, **kwargs):
        trained_rows.append(train_set.num_data() if train_set.data is None else len(train_set.data))
        return real_train(params, train_set, *args, **kwargs)

    monkeypatch.setattr(propensity.lgb, "train", counting_train)
    params = {**PARAMS, "refit": True, "calibration_folds": 3}

    fit = propensity_fit(frame=frame, labels=labels, periods=periods, product_code="SAVINGS", seed=42, params=params)

    # Held-out booster (to choose rounds), the shipped one on all rows, then one per fold.
    assert len(trained_rows) == 5
    assert trained_rows[1] == len(frame)
    assert sorted(trained_rows[2:]) == pytest.approx([600] * 3, abs=5)
    assert fit.holdout["refit"] is True
    assert fit.calibration["rows"] == len(frame)  # every row calibrates, each scored by a booster blind to it
    x = fit.model.matrix(frame)
    calibrated = fit.model.predict(x)
    assert roc_auc_score(labels, calibrated) == pytest.approx(
        roc_auc_score(labels, fit.model.predict_raw(x)), abs=1e-12
    )
    assert calibrated.mean() == pytest.approx(labels.mean(), abs=0.03)
    again = propensity_fit(frame=frame, labels=labels, periods=periods, product_code="SAVINGS", seed=42, params=params)
    assert again.model.booster.model_to_string() == fit.model.booster.model_to_string()
