"""Bearer-token authentication for channel systems.

A token's client is remembered per process for ``TOKEN_CACHE_SECONDS``: looking it
up cost about a millisecond of a web worker's time per request, as much as the rest
of a bare endpoint. So a token revoked in another process (another web worker, the
admin of another server) is refused within that bound; one revoked in this process
is refused at once (``token_cache_forget`` runs on every save or delete of a client).
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.models import ApiClient

TOKEN_CACHE_SECONDS = 2.0
# Channel systems are a handful; the bound only stops the cache growing without end.
TOKEN_CACHE_MAX = 1_000
LAST_USED_EVERY_SECONDS = 60

_cache_lock = threading.Lock()
# token hash -> (client, monotonic time after which it is read again)
_cache: dict[str, tuple[ApiClient, float]] = {}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_cache_forget(**_: Any) -> None:
    """Forget every remembered client, so this process sees a revocation at once."""
    with _cache_lock:
        _cache.clear()


post_save.connect(token_cache_forget, sender=ApiClient, dispatch_uid="token-cache-forget-save")
post_delete.connect(token_cache_forget, sender=ApiClient, dispatch_uid="token-cache-forget-delete")


def _client_for(digest: str) -> ApiClient | None:
    """The active client holding the token with this hash, from the cache while it is fresh."""
    clock = time.monotonic()
    with _cache_lock:
        found = _cache.get(digest)
    if found is not None and clock < found[1]:
        return found[0]
    client = ApiClient.objects.filter(token_hash=digest, is_active=True).first()
    with _cache_lock:
        if client is None:
            _cache.pop(digest, None)
        else:
            if len(_cache) >= TOKEN_CACHE_MAX:
                _cache.clear()
            _cache[digest] = (client, clock + TOKEN_CACHE_SECONDS)
    return client


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``; the request's user is then the ``ApiClient``."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[ApiClient, str] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        client = _client_for(token_hash(parts[1]))
        if client is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API token.")
        now = timezone.now()
        # Throttle the bookkeeping write: once a minute is enough to show activity.
        if client.last_used_at is None or (now - client.last_used_at).total_seconds() > LAST_USED_EVERY_SECONDS:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
            client.last_used_at = now
        return client, parts[1]

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="api"'
