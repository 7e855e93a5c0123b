"""The segment explorer: who sees it, what it shows, the rebuild button, and the
segments line on Customer 360."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from core.models import TaskRun
from modeling.segments import segmentations_build
from tests.modeling.segment_data import NOW, customers_create, planted_frame, snapshot_of


@pytest.fixture(autouse=True)
def _model_dir(settings, tmp_path):
    settings.MODEL_DIR = tmp_path
    settings.BASE_CURRENCY = "EUR"


@pytest.fixture
def built(db, jane):
    """Two builds of every kind on 90 planted customers and Jane (C000123)."""
    snapshot = snapshot_of(planted_frame(customers_create(90) + [jane.pk]))
    segmentations_build(snapshot=snapshot, actor=None, now=NOW)
    return segmentations_build(snapshot=snapshot, actor=None, now=NOW)


def get(client, name, *args):
    return client.get(reverse(f"frontend:{name}", args=args))


@pytest.mark.parametrize(
    ("name", "args"),
    [("segment-list", ()), ("segmentation-detail", ("behavioural",)), ("segmentation-version", ("value", 1))],
)
def test_people_without_a_role_cannot_see_segments(client_as, oscar, built, name, args):
    assert get(client_as(oscar), name, *args).status_code == 403
    anonymous = get(client_as(None), name, *args)
    assert anonymous.status_code == 302
    assert "/login/" in anonymous["Location"]


@pytest.mark.parametrize("persona", ["bianca", "carlos"])
def test_business_users_and_compliance_officers_see_every_current_segmentation(
    request, client_as, built, persona, django_assert_max_num_queries
):
    client = client_as(request.getfixturevalue(persona))

    with django_assert_max_num_queries(5):
        response = get(client, "segment-list")

    page = response.content.decode()
    assert response.status_code == 200
    for kind in ("Behavioural", "Value", "Demographic", "Value tier"):
        assert f">{kind}</a>" in page
    for segmentation in built:
        assert f"v{segmentation.version}" in page
        for segment in segmentation.segments.all():
            assert escape(segment.name) in page
            assert segment.code in page
            assert escape(segment.description) in page
    assert "k-means · k=3 by silhouette" in page
    assert "Students" in page
    assert "Money in EUR" in page
    assert 'href="/segments/behavioural/"' in page
    assert "Segments" in page  # in the navigation


def test_only_people_who_manage_models_get_the_rebuild_button(client_as, bianca, carlos, built):
    assert 'id="build-segments"' in get(client_as(bianca), "segment-list").content.decode()
    assert 'id="build-segments"' not in get(client_as(carlos), "segment-list").content.decode()


def test_the_rebuild_button_queues_the_task_and_opens_its_page(client_as, bianca, carlos, built):
    response = client_as(bianca).post(reverse("frontend:segments-build"))

    run = TaskRun.objects.get(name="modeling.build_segments")
    assert response.status_code == 302
    assert response["Location"] == reverse("frontend:task-run-detail", args=[run.task_id])
    assert run.requested_by == bianca
    assert client_as(carlos).post(reverse("frontend:segments-build")).status_code == 403
    assert client_as(bianca).get(reverse("frontend:segments-build")).status_code in (404, 405)


def test_a_segmentation_page_shows_how_k_was_chosen_profiles_and_versions(client_as, carlos, built):
    response = get(client_as(carlos), "segmentation-detail", "behavioural")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="current"' in page
    assert "Current" in page
    chart = response.context["chart"]
    assert chart["criterion"] == "silhouette"
    assert chart["k"] == [3, 4, 5, 6, 7, 8]
    assert chart["chosen"] == 3
    assert len(chart["values"]) == 6
    embedded = page.split('id="segment-chart" type="application/json">')[1].split("</script>")[0]
    assert json.loads(embedded) == chart
    assert "frontend/vendor/chartjs/chart.umd.min.js" in page
    assert "frontend/segments.js" in page
    assert 'id="k-chart"' in page
    # A profile per segment, with the features that tell it apart.
    behavioural = built[0]
    for segment in behavioural.segments.all():
        assert f'id="segment-{segment.code}"' in page
        top = segment.profile["features"][0]
        assert escape(top["description"]) in page
    # Both versions are listed; the first links to its own page.
    assert reverse("frontend:segmentation-version", args=["behavioural", 1]) in page
    assert "v2</a> (this)" in page


def test_an_earlier_version_is_shown_as_not_current(client_as, bianca, built):
    response = get(client_as(bianca), "segmentation-version", "value", 1)

    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["segmentation"].version == 1
    assert "Not current" in page
    assert response.context["chart"]["criterion"] == "bic"


def test_a_rule_defined_segmentation_shows_its_rules(client_as, bianca, built):
    response = get(client_as(bianca), "segmentation-detail", "value_tier")

    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="rules"' in page
    assert "100,000 EUR" in page
    assert 'id="k-chart"' not in page
    assert "Premier" in page
    assert "Emerging" in page


def test_unknown_kinds_and_versions_are_not_found(client_as, bianca, built):
    client = client_as(bianca)
    assert get(client, "segmentation-detail", "lifestyle").status_code == 404
    assert get(client, "segmentation-version", "behavioural", 9).status_code == 404


def test_without_segments_the_list_says_how_to_build_them(client_as, bianca, db):
    page = get(client_as(bianca), "segment-list").content.decode()

    assert "No segments yet" in page
    assert "manage.py build_segments" in page


def test_customer_360_shows_the_customers_current_segments_with_links(client_as, bianca, jane, built):
    response = client_as(bianca).get(reverse("frontend:customer-360", kwargs={"external_id": "C000123"}))

    page = response.content.decode()
    assert 'id="segments"' in page
    assert [s.segmentation.kind for s in response.context["segments"]] == [
        "behavioural",
        "value",
        "demographic",
        "value_tier",
    ]
    for segment in response.context["segments"]:
        assert segment.segmentation.is_current
        assert escape(segment.name) in page
        assert f'/segments/{segment.segmentation.kind}/#segment-{segment.code}"' in page


def test_customer_360_without_segments_shows_no_segments_line(client_as, bianca, jane):
    page = client_as(bianca).get(reverse("frontend:customer-360", kwargs={"external_id": "C000123"})).content.decode()

    assert 'id="segments"' not in page
