"""The performance dashboard and its CSV export, and one look in a real browser."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from tests.campaigns.outcome_setup import scenario_build
from tests.frontend.test_browser import CHART_DRAWN, CHROMIUM, _sign_in, browser_type_launch_args  # noqa: F401

MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def scenario(db):
    return scenario_build()


def rows_of(response) -> list[dict[str, str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_dashboard_shows_the_figures_funnel_and_lift(scenario, client_as, bianca):
    response = client_as(bianca).get("/performance/", MARCH)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="total-sent">9<' in html
    assert 'id="total-conversions">3<' in html
    assert 'id="total-rate">33.3%<' in html
    assert 'data-campaign="spring"' in html
    assert "Split as set" in html
    assert 'data-key="card"' in html
    assert "Card offer (card)" in html
    charts = response.context["charts"]
    assert charts["funnel"]["values"] == [9, 5, 3, 2, 3]
    assert {
        label: rate for label, rate in zip(charts["segments"]["labels"], charts["segments"]["rate"], strict=True)
    } == {
        "Gold": 60.0,
        "Silver": 0.0,
    }
    assert '<a href="/performance/"' in html  # in the menu


def test_the_rate_line_is_the_rate_to_date_once_enough_were_sent():
    from campaigns.performance import MIN_RATE_BASE, Figures
    from frontend.performance_views import _charts

    days = [dt.date(2026, 3, d) for d in range(1, 5)]
    trend = [
        (days[0], Figures(sent=MIN_RATE_BASE - 1, conversions=2)),  # 2 of 29: too few to say
        (days[1], Figures(sent=71, conversions=0)),  # a big send: its conversions come later
        (days[2], Figures(sent=0, conversions=8)),  # a quiet day's own ratio would be undefined
        (days[3], Figures(sent=100, conversions=10)),
    ]
    charts = _charts(trend, [], [], {"labels": [], "series": []})
    assert charts["trend"]["rate"] == [None, 2.0, 10.0, 10.0]  # 2/100, 10/100, 20/200
    assert charts["trend"]["sent"] == [MIN_RATE_BASE - 1, 71, 0, 100]
    assert charts["trend"]["conversions"] == [2, 0, 8, 10]  # each day's own counts are still drawn


@pytest.mark.parametrize(("by", "reads"), [("offer", 3), ("segment", 2)])
def test_the_dashboard_reads_each_dimensions_figures_once(scenario, client_as, bianca, monkeypatch, by, reads):
    import campaigns.performance
    import frontend.performance_views

    asked: list[str | None] = []
    real = campaigns.performance.performance_cells

    def counted(filters, dimension):
        asked.append(dimension)
        return real(filters, dimension)

    monkeypatch.setattr(campaigns.performance, "performance_cells", counted)
    monkeypatch.setattr(frontend.performance_views, "performance_cells", counted)
    response = client_as(bianca).get("/performance/", {**MARCH, "by": by})
    assert response.status_code == 200
    # the trend's totals, the table's dimension (shared with the split chart), and segments when not the same
    assert sorted(asked, key=str) == sorted({None, by, "segment"}, key=str)
    assert len(asked) == reads
    assert 'id="trend-rate-note"' in response.content.decode()


def test_filters_and_grouping_come_from_the_query(scenario, client_as, bianca):
    response = client_as(bianca).get("/performance/", {**MARCH, "channel": "web", "by": "channel"})
    assert response.context["total"].sent == 1
    assert [row.label for row in response.context["rows"]] == ["Web content"]


def test_a_bad_range_is_named_and_the_page_still_renders(scenario, client_as, bianca):
    response = client_as(bianca).get("/performance/", {"start": "2026-03-31", "end": "2026-03-01"})
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()


def test_the_csv_export_holds_the_figures_of_the_table(scenario, client_as, bianca):
    rows = rows_of(client_as(bianca).get("/performance/export.csv", {**MARCH, "by": "offer"}))
    card = next(r for r in rows if r["offer"] == "card")
    assert (card["sent"], card["impressions"], card["clicks"], card["accepts"], card["conversions"]) == (
        "8",
        "5",
        "3",
        "2",
        "3",
    )
    assert card["conversion_rate"] == "0.375000"
    assert card["revenue"] == "300.00"
    assert card["mean_satisfaction"] == "3.000000"


def test_the_csv_export_of_the_trend_and_of_the_lift(scenario, client_as, bianca):
    api = client_as(bianca)
    trend = rows_of(api.get("/performance/export.csv", {**MARCH, "table": "trend"}))
    assert len(trend) == 31
    assert sum(int(r["sent"]) for r in trend) == 9
    response = api.get("/performance/export.csv", {**MARCH, "table": "lift"})
    assert 'filename="performance-lift-2026-03-01-2026-03-31.csv"' in response["Content-Disposition"]
    (lift,) = rows_of(response)
    assert (lift["campaign"], lift["treated"], lift["treated_converted"], lift["control"]) == ("spring", "8", "3", "2")
    assert float(lift["ci95_low"]) < float(lift["difference"]) < float(lift["ci95_high"])
    assert lift["srm_mismatch"] == "False"


def test_a_name_that_looks_like_a_formula_stays_text_in_the_csv(scenario, client_as, bianca):
    scenario.campaign.name = "=HYPERLINK(1)"
    scenario.campaign.save()
    rows = rows_of(client_as(bianca).get("/performance/export.csv", {**MARCH, "by": "campaign"}))
    assert "'=HYPERLINK(1)" in [r["label"] for r in rows]


def test_compliance_may_look_and_people_without_a_role_may_not(db, client_as, carlos, oscar):
    assert client_as(carlos).get("/performance/").status_code == 200
    assert client_as(oscar).get("/performance/").status_code == 403
    assert client_as(oscar).get("/performance/export.csv").status_code == 403
    assert client_as(None).get("/performance/").status_code == 302


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")
def test_the_dashboard_draws_its_charts_in_a_browser(live_server, transactional_db, bianca, page, output_path):
    scenario_build()
    foreign, problems = [], []
    page.on("request", lambda r: None if r.url.startswith((live_server.url, "data:")) else foreign.append(r.url))
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.set_viewport_size({"width": 1400, "height": 1000})
    _sign_in(page, live_server.url, "bianca")

    page.goto(f"{live_server.url}/performance/?start=2026-03-01&end=2026-03-31&bucket=week")
    for chart in ("trend-chart", "funnel-chart", "segment-chart", "split-chart"):
        drawn = page.evaluate(CHART_DRAWN, chart)
        assert drawn is not None, chart
        assert drawn["points"] > 0
        assert drawn["width"] > 100
        assert drawn["height"] > 100
    assert page.locator("#lift-table tr[data-campaign=spring]").count() == 1
    page.screenshot(path=Path(output_path) / "performance.png", full_page=True)

    page.select_option("#id_channel", "web")
    page.click("#apply-filters")
    page.wait_for_url("**channel=web**")
    assert page.inner_text("#total-sent") == "1"
    assert problems == []
    assert foreign == []
