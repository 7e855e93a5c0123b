"""Segmentations: planted groups are found, k is chosen and reported, labels stay
stable across refits, segments are described in words, rule-defined kinds follow
their rules, builds are versioned and all-or-nothing, and the selectors give
rules and campaigns the current segments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core.models import AuditEvent
from customers.models import Customer
from modeling import segments
from modeling.feature_catalogue import Use, feature_get
from modeling.models import Segment, Segmentation, SegmentationKind, SegmentationMethod, SegmentMembership
from modeling.segments import (
    SegmentationError,
    customer_segments,
    segment_customer_ids,
    segmentation_assign,
    segmentation_fit,
    segmentation_make_current,
    segmentations_build,
)
from tests.modeling.segment_data import (
    CASH,
    CUTOFF,
    DIGITAL,
    NOW,
    TRAVEL,
    WEALTHY,
    customers_create,
    planted_frame,
    snapshot_of,
)

B, V = SegmentationKind.BEHAVIOURAL, SegmentationKind.VALUE


@pytest.fixture(autouse=True)
def _model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    settings.BASE_CURRENCY = "EUR"


@pytest.fixture
def ids(db) -> list[int]:
    return customers_create(150)


@pytest.fixture
def snapshot(ids):
    return snapshot_of(planted_frame(ids))


def fit(kind, snapshot, **kw):
    return segmentation_fit(kind=kind, snapshot=snapshot, actor=None, now=NOW, **kw)


def members(segmentation) -> pd.Series:
    rows = SegmentMembership.objects.filter(segmentation=segmentation).values_list("customer_id", "segment__label")
    return pd.Series(dict(rows)).sort_index()


def label_of_group(segmentation, ids, group, groups=3) -> int:
    """The label most customers of planted behavioural ``group`` got."""
    labels = members(segmentation)
    return int(labels.loc[[i for n, i in enumerate(ids) if n % groups == group]].mode().iloc[0])


def test_every_clustering_input_is_a_model_feature_never_a_protected_one():
    for item in segments.PROFILE_INPUTS:
        assert feature_get(item.name).use is Use.MODEL, item.name
    assert "age_band" not in {i.name for i in segments.PROFILE_INPUTS}


def test_a_behavioural_fit_finds_the_planted_groups_and_reports_how_k_was_chosen(ids, snapshot):
    segmentation = fit(B, snapshot, k_range=(2, 6))

    assert segmentation.method == SegmentationMethod.KMEANS
    assert segmentation.version == 1
    assert not segmentation.is_current
    selection = segmentation.selection
    assert selection["criterion"] == "silhouette"
    assert [s["k"] for s in selection["scores"]] == [2, 3, 4, 5, 6]
    assert selection["k"] == 3
    best = max(selection["scores"], key=lambda s: s["silhouette"])
    assert best["k"] == 3
    # Every customer has exactly one membership, and each planted group is one segment.
    labels = members(segmentation)
    assert list(labels.index) == sorted(ids)
    for group in (DIGITAL, CASH, TRAVEL):
        in_group = labels.loc[[i for n, i in enumerate(ids) if n % 3 == group]]
        assert in_group.nunique() == 1
    assert [s.size for s in segmentation.segments.all()] == [50, 50, 50]
    assert sum(s.share for s in segmentation.segments.all()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("kind", [B, V])
def test_with_many_customers_k_is_chosen_on_a_sample_and_the_winner_refined_on_everyone(
    kind, monkeypatch, ids, snapshot
):
    monkeypatch.setattr(segments, "SELECTION_SAMPLE", 90)

    first = fit(kind, snapshot, k_range=(3, 5))
    labels = members(first)
    Segmentation.objects.all().delete()
    second = fit(kind, snapshot, k_range=(3, 5))

    assert first.selection["sample"] == 90
    assert first.selection["k"] == 3
    assert len(labels) == len(ids)
    group = [(n % 3) if kind == B else (n // 3) % 3 for n in range(len(ids))]
    assert pd.crosstab(group, labels.loc[ids].to_numpy()).gt(0).sum(axis=1).eq(1).all()
    assert members(second).equals(labels)
    assert second.model == first.model


def test_the_model_is_plain_json_with_the_scaler_and_centres(snapshot):
    segmentation = fit(B, snapshot)

    model = json.loads(json.dumps(segmentation.model))
    assert model["features"] == segmentation.features
    assert len(model["scaler"]["mean"]) == len(model["features"]) == len(model["scaler"]["scale"])
    assert len(model["centres"]) == segmentation.selection["k"] == len(model["labels"])
    assert model["impute"]["credit_score"] if "credit_score" in model["features"] else True
    assert segmentation.params["seed"] == 42


def test_a_value_fit_uses_a_gaussian_mixture_chosen_by_bic_and_stores_probabilities(ids, snapshot):
    segmentation = fit(V, snapshot)

    assert segmentation.method == SegmentationMethod.GMM
    selection = segmentation.selection
    assert selection["criterion"] == "bic"
    assert selection["k"] == min(selection["scores"], key=lambda s: s["bic"])["k"]
    assert selection["k"] == 3
    assert {"weights", "covariances", "centres"} <= set(segmentation.model)
    probabilities = SegmentMembership.objects.filter(segmentation=segmentation).values_list("probability", flat=True)
    assert all(0.3 <= p <= 1.0 for p in probabilities)
    # The wealthy group is one segment, described by its money.
    labels = members(segmentation)
    wealthy = labels.loc[[i for n, i in enumerate(ids) if (n // 3) % 3 == WEALTHY]]
    assert wealthy.nunique() == 1
    segment = segmentation.segments.get(label=wealthy.iloc[0])
    assert segment.value["mean_income"] > 120_000
    assert segment.value["currency"] == "EUR"
    assert "high" in segment.name.lower() or "many" in segment.name.lower()


def test_either_method_fits_either_kind(snapshot):
    assert fit(B, snapshot, method="gmm", k_range=(3, 4)).method == SegmentationMethod.GMM
    assert fit(V, snapshot, method="kmeans", k_range=(3, 4)).method == SegmentationMethod.KMEANS


def test_segments_are_named_and_described_by_their_distinguishing_features(ids, snapshot):
    segmentation = fit(B, snapshot, k_range=(3, 3))

    digital = segmentation.segments.get(label=label_of_group(segmentation, ids, DIGITAL))
    cash = segmentation.segments.get(label=label_of_group(segmentation, ids, CASH))
    travel = segmentation.segments.get(label=label_of_group(segmentation, ids, TRAVEL))
    assert digital.name.startswith(("High digital engagement", "High online card use", "High dining out"))
    assert {f["feature"] for f in digital.profile["features"][:4]} == {
        "logins_90d",
        "txn_count_card_online_90d",
        "spend_share_dining_90d",
        "spend_share_entertainment_90d",
    }
    assert "high cash use" in cash.name.lower()
    assert "high travel spending" in travel.name.lower()
    assert cash.description.startswith("Cash use well above average")
    top = cash.profile["features"][0]
    assert top["feature"] == "spend_share_cash_90d"
    assert top["description"] == feature_get("spend_share_cash_90d").description
    assert top["z"] > 1
    assert top["segment_mean"] > top["population_mean"]
    assert len({s.name for s in segmentation.segments.all()}) == 3
    assert {s.code for s in segmentation.segments.all()} == {
        f"behavioural_{s.label}" for s in segmentation.segments.all()
    }


def test_the_same_data_and_seed_give_the_same_segmentation(snapshot):
    def result():
        segmentation = fit(B, snapshot)
        segments = [(s.label, s.code, s.name, s.size, s.description, s.profile) for s in segmentation.segments.all()]
        return segmentation.model, segmentation.selection, members(segmentation), segments

    first = result()
    Segmentation.objects.all().delete()
    second = result()

    assert first[0] == second[0]  # scaler, centres, labels
    assert first[1] == second[1]  # every candidate k's scores
    assert first[2].equals(second[2])  # every customer's segment
    assert first[3] == second[3]


@pytest.mark.parametrize("kind", [B, V])
def test_refitting_on_the_same_data_keeps_labels_codes_and_names(kind, snapshot):
    first = fit(kind, snapshot, seed=1)
    segmentation_make_current(segmentation=first, actor=None, now=NOW)

    # Another seed numbers the clusters differently: matching undoes that.
    second = fit(kind, snapshot, seed=2)

    assert second.previous == first
    assert members(first).equals(members(second))
    assert [(s.label, s.code, s.name) for s in first.segments.all()] == [
        (s.label, s.code, s.name) for s in second.segments.all()
    ]
    assert all(pair["kept"] for pair in second.selection["matching"]["pairs"])


def test_refitting_on_slightly_changed_data_keeps_labels(ids, snapshot):
    first = fit(B, snapshot)
    segmentation_make_current(segmentation=first, actor=None, now=NOW)
    # New noise everywhere, and twenty new customers.
    changed = snapshot_of(planted_frame(ids + customers_create(20), seed=99))

    second = fit(B, changed)

    for group in (DIGITAL, CASH, TRAVEL):
        assert label_of_group(second, ids, group) == label_of_group(first, ids, group)
    assert {s.name for s in second.segments.all()} == {s.name for s in first.segments.all()}


def test_a_new_cluster_gets_a_label_never_used_before(ids, snapshot):
    first = fit(B, snapshot, k_range=(3, 3))
    segmentation_make_current(segmentation=first, actor=None, now=NOW)
    gamblers = snapshot_of(planted_frame(ids + customers_create(50), groups=4))

    second = fit(B, gamblers, k_range=(4, 4))

    for group in (DIGITAL, CASH, TRAVEL):
        assert label_of_group(second, ids, group, groups=4) == label_of_group(first, ids, group)
    new = second.segments.exclude(label__in=[s.label for s in first.segments.all()]).get()
    assert new.label == 4
    assert "gambling" in new.name.lower()


def test_a_cluster_far_from_every_old_centre_does_not_inherit_its_label(ids, snapshot):
    first = fit(B, snapshot, k_range=(3, 3))
    segmentation_make_current(segmentation=first, actor=None, now=NOW)
    gamblers = snapshot_of(planted_frame(ids, groups=4))

    # Three clusters again, but one of them is now the gamblers.
    second = fit(B, gamblers, k_range=(4, 4))

    kept = [p for p in second.selection["matching"]["pairs"] if p["kept"]]
    assert len(kept) <= 3
    assert max(s.label for s in second.segments.all()) >= 4


def test_rule_segments_follow_the_declared_rules(ids, snapshot):
    demographic = fit(SegmentationKind.DEMOGRAPHIC, snapshot)
    tiers = fit(SegmentationKind.VALUE_TIER, snapshot)

    assert demographic.method == tiers.method == SegmentationMethod.RULES
    assert [s.code for s in demographic.segments.all()] == [
        "demographic_student",
        "demographic_young_working",
        "demographic_midlife_working",
        "demographic_late_career",
        "demographic_retired",
        "demographic_not_working",
    ]
    frame = planted_frame(ids)
    expected = np.select(
        [
            frame.employment_type == "student",
            frame.employment_type.isin(["employed", "self_employed"]) & (frame.age < 35),
            frame.employment_type.isin(["employed", "self_employed"]) & (frame.age < 55),
            frame.employment_type.isin(["employed", "self_employed"]),
            frame.employment_type == "retired",
        ],
        [1, 2, 3, 4, 5],
        6,
    )
    assert members(demographic).tolist() == expected.tolist()
    assert [s.code for s in tiers.segments.all()] == [
        "value_tier_premier",
        "value_tier_affluent",
        "value_tier_core",
        "value_tier_emerging",
    ]
    tier_of = members(tiers)
    wealthy = [i for n, i in enumerate(ids) if (n // 3) % 3 == WEALTHY]
    assert set(tier_of.loc[wealthy]) == {1}
    premier = tiers.segments.get(label=1)
    assert "100,000 EUR" in premier.description
    assert premier.profile["features"]  # profiled on the clustering inputs, like learnt segments
    assert sum(s.size for s in tiers.segments.all()) == len(ids)


def test_a_build_makes_one_current_version_of_each_kind_and_keeps_the_previous(bianca, snapshot):
    first = segmentations_build(snapshot=snapshot, actor=bianca, now=NOW)
    second = segmentations_build(snapshot=snapshot, actor=bianca, now=NOW)

    assert [s.kind for s in second] == list(SegmentationKind.values)
    assert Segmentation.objects.count() == 8
    current = Segmentation.objects.filter(is_current=True)
    assert set(current) == set(second)
    for old, new in zip(first, second, strict=True):
        assert new.previous == old
        assert new.version == old.version + 1
    events = AuditEvent.objects.filter(action="segmentation.make_current")
    assert events.count() == 8
    assert events.filter(actor=bianca).count() == 8


def test_a_build_that_fails_changes_nothing(monkeypatch, snapshot):
    segmentations_build(snapshot=snapshot, actor=None, now=NOW)
    before = set(Segmentation.objects.filter(is_current=True).values_list("pk", flat=True))

    def broken(*args, **kwargs):
        raise RuntimeError("the value fit broke")

    monkeypatch.setattr(segments, "_fit_gmm", broken)
    with pytest.raises(RuntimeError):
        segmentations_build(snapshot=snapshot, actor=None, now=NOW)

    assert Segmentation.objects.count() == 4
    assert set(Segmentation.objects.filter(is_current=True).values_list("pk", flat=True)) == before


def test_customer_segments_gives_the_current_segment_of_each_kind(ids, snapshot):
    built = segmentations_build(snapshot=snapshot, actor=None, now=NOW)

    mine = customer_segments(customer_id=ids[0])

    assert set(mine) == set(SegmentationKind.values)
    for segmentation in built:
        membership = SegmentMembership.objects.get(segmentation=segmentation, customer_id=ids[0])
        assert mine[segmentation.kind] == membership.segment
    assert customer_segments(customer_id=10**9) == {}


def test_segment_customer_ids_lists_the_current_members_and_names_an_unknown_code(ids, snapshot):
    segmentations_build(snapshot=snapshot, actor=None, now=NOW)

    students = list(segment_customer_ids(code="demographic_student"))

    assert students == sorted(i for n, i in enumerate(ids) if n % 5 == 2)
    assert Customer.objects.filter(pk__in=segment_customer_ids(code="demographic_student")).count() == len(students)
    with pytest.raises(KeyError, match="behavioural_99"):
        segment_customer_ids(code="behavioural_99")


@pytest.mark.parametrize(("kind", "method"), [(B, "kmeans"), (V, "gmm"), (SegmentationKind.VALUE_TIER, None)])
def test_a_stored_segmentation_assigns_customers_from_its_json_alone(kind, method, ids, snapshot):
    segmentation = fit(kind, snapshot, method=method)

    assigned = segmentation_assign(segmentation=segmentation, frame=planted_frame(ids))

    assert assigned["label"].sort_index().tolist() == members(segmentation).tolist()
    if method == "gmm":
        stored = SegmentMembership.objects.filter(segmentation=segmentation).order_by("customer_id")
        assert assigned["probability"].sort_index().to_numpy() == pytest.approx(
            [m.probability for m in stored], abs=1e-4
        )


def test_customers_erased_since_the_snapshot_get_no_membership(ids, snapshot):
    Customer.objects.filter(pk=ids[5]).delete()

    segmentation = fit(SegmentationKind.DEMOGRAPHIC, snapshot)

    assert SegmentMembership.objects.filter(segmentation=segmentation).count() == len(ids) - 1
    assert sum(s.size for s in segmentation.segments.all()) == len(ids) - 1


def test_bad_input_is_refused_with_the_reason(db, snapshot):
    with pytest.raises(SegmentationError, match="unknown segmentation kind"):
        fit("lifestyle", snapshot)
    with pytest.raises(SegmentationError, match="k range"):
        fit(B, snapshot, k_range=(1, 4))
    with pytest.raises(SegmentationError, match="kmeans or gmm"):
        fit(B, snapshot, method="rules")
    few = snapshot_of(planted_frame(customers_create(6)))
    with pytest.raises(SegmentationError, match="too few"):
        fit(B, few)
    assert not Segmentation.objects.exists()


def test_inputs_without_variation_are_dropped_and_reported(ids):
    frame = planted_frame(ids)
    frame["spend_share_gambling_90d"] = 0.0

    segmentation = fit(B, snapshot_of(frame))

    assert "spend_share_gambling_90d" not in segmentation.features
    assert segmentation.params["dropped_inputs"] == {"spend_share_gambling_90d": "the same for every customer"}


def test_the_command_builds_every_kind_from_the_snapshot_of_the_cutoff(snapshot, capsys, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)

    call_command("build_segments", "--cutoff", CUTOFF.isoformat())

    out = capsys.readouterr().out
    assert Segmentation.objects.filter(is_current=True, snapshot=snapshot).count() == 4
    assert "Behavioural v1 (k-means, k=3 by silhouette)" in out
    assert "demographic_student" in out


def test_the_command_refuses_a_malformed_cutoff(db):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("build_segments", "--cutoff", "1 March")


def test_the_task_builds_from_a_snapshot_id(bianca, snapshot):
    from modeling.tasks import segments_build_task

    result = segments_build_task.delay(snapshot_id=snapshot.pk, requested_by_id=bianca.pk).get()

    assert result["ok"] is True
    assert len(result["segmentations"]) == 4
    assert Segment.objects.filter(segmentation__is_current=True).count() >= 4 + 6 + 4
    assert segments_build_task.delay(snapshot_id=10**9).get() == {
        "ok": False,
        "error": "no feature snapshot 1000000000",
    }
