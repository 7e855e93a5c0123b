"""Safe retries for POSTs that create things (STYLE.md section 7).

A caller sends ``Idempotency-Key: <opaque string>``. The first request with a key
claims it (one row under a unique constraint per caller and endpoint), runs, and
stores its response in the same transaction as its work. Then:

- a repeat with the same body gets the stored response and ``Idempotent-Replayed: true``;
- the same key with a different body gets 422;
- a repeat while the first is still running gets 409.

Only successful (2xx) responses are kept: a request that failed validation or
raised did no work, so its claim is released and the caller may retry with the
same key once the request is corrected. A claim whose request died without
finishing (a killed worker) is taken over after ``CLAIM_TIMEOUT``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from config.api import ProblemError
from core.models import ApiClient, IdempotencyKey, User

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# A request still unfinished after this long is taken to have died with its process.
CLAIM_TIMEOUT = timedelta(minutes=5)

View = TypeVar("View", bound=Callable[..., Response])


class ClaimState(StrEnum):
    NEW = "new"  # this request holds the claim and must do the work
    REPLAY = "replay"  # done before with the same body: return the stored response
    MISMATCH = "mismatch"  # done or running with another body
    IN_FLIGHT = "in_flight"  # same body, still running elsewhere


@dataclass(frozen=True)
class Claim:
    state: ClaimState
    row: IdempotencyKey


def idempotency_owner(user: Any) -> str:
    """The namespace a key lives in: each caller has its own keys."""
    if isinstance(user, ApiClient):
        return f"client:{user.pk}"
    if isinstance(user, User):
        return f"user:{user.pk}"
    raise ValueError("idempotency keys need an authenticated caller")


def canonical_json(value: Any) -> str:
    """One spelling per JSON value, so equal bodies hash alike whatever their key
    order or spacing."""
    if isinstance(value, QueryDict):
        value = {key: value.getlist(key) for key in value}
    return json.dumps(value, cls=JSONEncoder, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(body: Any) -> str:
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def idempotency_claim(*, owner: str, endpoint: str, key: str, body_hash: str, now: datetime) -> Claim:
    """Claim ``key`` for this request, or say why it cannot be claimed.

    The insert is committed on its own (a savepoint when already in a transaction),
    so a concurrent request sees the claim at once; the unique constraint decides
    which of two racing requests wins.
    """
    try:
        with transaction.atomic():
            row = IdempotencyKey.objects.create(owner=owner, endpoint=endpoint, key=key, request_hash=body_hash)
        return Claim(ClaimState.NEW, row)
    except IntegrityError:
        pass
    row = IdempotencyKey.objects.get(owner=owner, endpoint=endpoint, key=key)
    if row.request_hash != body_hash:
        return Claim(ClaimState.MISMATCH, row)
    if row.completed_at is not None:
        return Claim(ClaimState.REPLAY, row)
    if row.created_at < now - CLAIM_TIMEOUT:
        # Take over an abandoned claim by compare-and-set, so only one retry wins it.
        taken = IdempotencyKey.objects.filter(pk=row.pk, completed_at__isnull=True, created_at=row.created_at).update(
            created_at=now
        )
        if taken == 1:
            row.created_at = now
            return Claim(ClaimState.NEW, row)
    return Claim(ClaimState.IN_FLIGHT, row)


def idempotency_complete(*, row: IdempotencyKey, response: Response, now: datetime) -> None:
    """Store the response a repeat will get. Call it inside the work's transaction."""
    body = json.loads(json.dumps(response.data, cls=JSONEncoder))
    IdempotencyKey.objects.filter(pk=row.pk).update(
        response_status=response.status_code, response_body=body, completed_at=now
    )


def idempotency_release(*, row: IdempotencyKey) -> None:
    """Forget an unfinished claim, so the caller can retry with the same key."""
    IdempotencyKey.objects.filter(pk=row.pk, completed_at__isnull=True).delete()


def _key_from(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ProblemError(
            status_code=400,
            title="Invalid Idempotency-Key",
            detail=f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters.",
            type_="invalid-idempotency-key",
        )
    return key


def idempotent(endpoint: str) -> Callable[[View], View]:
    """Make an APIView handler (``post(self, request, ...)``) idempotent under ``endpoint``.

    Without the header the handler runs as usual. With it, the handler and the
    storing of its response run in one transaction, so a crash between the two
    cannot leave work done but unrecorded.
    """

    def decorate(handler: View) -> View:
        @functools.wraps(handler)
        def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> Response:
            key = _key_from(request)
            if key is None:
                return handler(view, request, *args, **kwargs)
            owner = idempotency_owner(request.user)
            # Reading request.data parses the body, so a malformed body fails here
            # as a 400 before any key is claimed.
            claim = idempotency_claim(
                owner=owner, endpoint=endpoint, key=key, body_hash=request_hash(request.data), now=timezone.now()
            )
            if claim.state == ClaimState.REPLAY:
                return Response(
                    claim.row.response_body, status=claim.row.response_status, headers={REPLAYED_HEADER: "true"}
                )
            if claim.state == ClaimState.MISMATCH:
                raise ProblemError(
                    status_code=422,
                    title="Idempotency key reused",
                    detail=f"{HEADER} {key!r} was already used with a different request body.",
                    type_="idempotency-key-reused",
                )
            if claim.state == ClaimState.IN_FLIGHT:
                raise ProblemError(
                    status_code=409,
                    title="Request in progress",
                    detail=f"A request with {HEADER} {key!r} is still being processed; retry later.",
                    type_="idempotency-in-flight",
                )
            try:
                with transaction.atomic():
                    response = handler(view, request, *args, **kwargs)
                    if 200 <= response.status_code < 300:
                        idempotency_complete(row=claim.row, response=response, now=timezone.now())
            except BaseException:
                idempotency_release(row=claim.row)
                raise
            if not 200 <= response.status_code < 300:
                idempotency_release(row=claim.row)
            return response

        return wrapper  # type: ignore[return-value]

    return decorate
