"""core.idempotency: claims under a unique constraint, replays, mismatches and in-flight requests."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from core.idempotency import (
    CLAIM_TIMEOUT,
    ClaimState,
    canonical_json,
    idempotency_claim,
    idempotency_owner,
    idempotent,
    request_hash,
)
from core.models import AuditEvent, IdempotencyKey
from core.services import audit_record

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def _claim(key: str = "k", body_hash: str = "h1", now: dt.datetime = NOW):
    return idempotency_claim(owner="user:1", endpoint="things.create", key=key, body_hash=body_hash, now=now)


def test_canonical_json_ignores_key_order_and_spacing():
    assert canonical_json({"b": [1, {"y": 2, "x": 1}], "a": "é"}) == '{"a":"é","b":[1,{"x":1,"y":2}]}'
    assert request_hash({"a": 1, "b": 2}) == request_hash({"b": 2, "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": "1"})


def test_the_owner_is_the_client_or_the_person(mobile_app, bianca):
    assert idempotency_owner(mobile_app.client) == f"client:{mobile_app.client.pk}"
    assert idempotency_owner(bianca) == f"user:{bianca.pk}"
    with pytest.raises(ValueError, match="authenticated caller"):
        idempotency_owner(None)


def test_of_two_interleaved_claims_only_the_first_wins():
    # given two requests with the same key racing: both try to insert the claim
    first = _claim()
    second = _claim()
    # then the unique constraint lets one through and the other sees it in flight
    assert first.state == ClaimState.NEW
    assert second.state == ClaimState.IN_FLIGHT
    assert IdempotencyKey.objects.count() == 1


def test_a_completed_claim_replays_and_another_body_mismatches():
    claim = _claim()
    IdempotencyKey.objects.filter(pk=claim.row.pk).update(
        completed_at=NOW, response_status=201, response_body={"id": 7}
    )
    replay = _claim()
    assert replay.state == ClaimState.REPLAY
    assert (replay.row.response_status, replay.row.response_body) == (201, {"id": 7})
    assert _claim(body_hash="h2").state == ClaimState.MISMATCH


def test_an_abandoned_claim_is_taken_over_by_one_retry_only():
    # given a claim whose request died long ago
    claim = _claim()
    IdempotencyKey.objects.filter(pk=claim.row.pk).update(created_at=NOW - CLAIM_TIMEOUT - dt.timedelta(seconds=1))
    # when two retries arrive together, the compare-and-set lets one take it over
    assert _claim().state == ClaimState.NEW
    assert _claim().state == ClaimState.IN_FLIGHT


class ThingCreateApi(APIView):
    """A stand-in endpoint: records an audit event, then maybe fails."""

    fail_after_work = False

    @idempotent("things.create")
    def post(self, request: Request) -> Response:
        audit_record(actor=request.user, action="thing.create", object_type="thing", object_id=request.data["name"])
        if self.fail_after_work:
            raise RuntimeError("crash after the work, before the response")
        return Response({"name": request.data["name"], "n": AuditEvent.objects.count()}, status=201)


def _post(user, body, key: str | None = "key-1", fail: bool = False) -> Response:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    request = APIRequestFactory().post("/things", body, format="json", **headers)
    force_authenticate(request, user=user)
    return ThingCreateApi.as_view(fail_after_work=fail)(request)


def test_the_decorator_replays_the_first_response_without_redoing_the_work(bianca):
    first = _post(bianca, {"name": "a"})
    again = _post(bianca, {"name": "a"})
    assert first.status_code == again.status_code == 201
    assert again.data == first.data == {"name": "a", "n": 1}
    assert again["Idempotent-Replayed"] == "true"
    assert AuditEvent.objects.filter(action="thing.create").count() == 1


def test_without_a_key_every_request_does_the_work(bianca):
    _post(bianca, {"name": "a"}, key=None)
    _post(bianca, {"name": "a"}, key=None)
    assert AuditEvent.objects.filter(action="thing.create").count() == 2
    assert not IdempotencyKey.objects.exists()


def test_a_crash_rolls_back_the_work_and_frees_the_key(bianca):
    with pytest.raises(RuntimeError):
        _post(bianca, {"name": "a"}, fail=True)
    assert not AuditEvent.objects.filter(action="thing.create").exists()
    assert not IdempotencyKey.objects.exists()
    # and the retry then does the work once
    assert _post(bianca, {"name": "a"}).status_code == 201
    assert AuditEvent.objects.filter(action="thing.create").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_request_sees_the_first_in_flight_while_its_work_is_under_way(bianca):
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time: the retry waits for the first request instead of racing it")

    answers = {}

    class SlowApi(APIView):
        @idempotent("things.create")
        def post(self, request: Request) -> Response:
            # while this request's transaction is open, the same request arrives
            # from another thread (its own database connection)
            def retry() -> None:
                try:
                    answers["retry"] = _post(bianca, {"name": "s"}, key="slow").status_code
                except Exception as exc:  # a ProblemError reaches the caller as a response
                    answers["retry"] = repr(exc)
                finally:
                    from django.db import connection

                    connection.close()

            thread = threading.Thread(target=retry)
            thread.start()
            thread.join(timeout=20)
            return Response({"ok": True}, status=201)

    request = APIRequestFactory().post("/things", {"name": "s"}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    force_authenticate(request, user=bianca)
    assert SlowApi.as_view()(request).status_code == 201
    assert answers == {"retry": 409}
    assert IdempotencyKey.objects.get(key="slow").completed_at <= timezone.now()
