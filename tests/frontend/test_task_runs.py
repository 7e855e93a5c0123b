"""Task run pages: the list, and a detail page that follows the run while it works."""

from __future__ import annotations

from django.urls import reverse

from core.models import TaskRun, TaskRunState


def test_the_list_shows_each_run_with_its_state_progress_and_error(client_as, carlos, task_run):
    TaskRun.objects.create(
        task_id="run-2",
        name="modeling.train",
        label="Train CC_GOLD",
        state=TaskRunState.FAILURE,
        done=2,
        total=5,
        error="ValueError: not enough outcomes",
    )

    html = client_as(carlos).get(reverse("frontend:task-run-list")).content.decode()

    assert "Import 2 files" in html
    assert "Running" in html
    assert "40 / 160" in html
    assert "width: 25%" in html
    assert "Train CC_GOLD" in html
    assert "ValueError: not enough outcomes" in html
    assert reverse("frontend:task-run-detail", kwargs={"task_id": "run-1"}) in html


def test_the_list_filters_by_state(client_as, carlos, task_run):
    TaskRun.objects.create(task_id="run-2", name="modeling.train", label="Train CC_GOLD", state=TaskRunState.SUCCESS)

    response = client_as(carlos).get(reverse("frontend:task-run-list"), {"state": "success"})

    assert [run.task_id for run in response.context["page"]] == ["run-2"]


def test_the_list_pages_through_many_runs(client_as, carlos, django_assert_max_num_queries):
    for n in range(30):
        TaskRun.objects.create(task_id=f"r{n}", name="customers.import_files")
    client = client_as(carlos)

    with django_assert_max_num_queries(4):
        first = client.get(reverse("frontend:task-run-list"))
    second = client.get(reverse("frontend:task-run-list"), {"page": 2})

    assert len(first.context["page"].object_list) == 25
    assert len(second.context["page"].object_list) == 5


def test_the_detail_page_shows_the_run_and_polls_its_api_endpoint(client_as, bianca, task_run):
    client = client_as(bianca)

    html = client.get(reverse("frontend:task-run-detail", kwargs={"task_id": "run-1"})).content.decode()
    poll_url = reverse("task-run-detail", kwargs={"task_id": "run-1"})

    assert f'data-poll-url="{poll_url}"' in html
    assert "frontend/task_run.js" in html
    assert "transactions: row 40 of 160" in html
    assert "1 min 15 s" in html
    polled = client.get(poll_url, HTTP_ACCEPT="application/json")
    assert polled.status_code == 200
    assert (polled.json()["state"], polled.json()["done"], polled.json()["total"]) == ("started", 40, 160)


def test_a_finished_run_shows_its_result_and_error(client_as, bianca):
    TaskRun.objects.create(
        task_id="run-3",
        name="customers.import_files",
        state=TaskRunState.FAILURE,
        error="customers.csv line 7, column birth_date: not a date",
        result={"rows": 6},
    )

    html = client_as(bianca).get(reverse("frontend:task-run-detail", kwargs={"task_id": "run-3"})).content.decode()

    assert "customers.csv line 7, column birth_date: not a date" in html
    assert "&quot;rows&quot;: 6" in html
    assert 'data-state="failure"' in html


def test_an_unknown_run_is_not_found(client_as, bianca):
    assert client_as(bianca).get(reverse("frontend:task-run-detail", kwargs={"task_id": "nope"})).status_code == 404
