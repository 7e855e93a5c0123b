"""Users and roles, API clients, audit events, task runs and idempotency keys."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    BUSINESS = "business", "Business user"
    COMPLIANCE = "compliance", "Compliance officer"
    ADMIN = "admin", "Administrator"
    NONE = "none", "No role"


class User(AbstractUser):
    """A member of the bank's staff. Channel systems are ``ApiClient``s, not users."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.NONE)

    class Meta:
        ordering = ["username"]

    @property
    def is_business(self) -> bool:
        return self.role == Role.BUSINESS

    @property
    def is_compliance(self) -> bool:
        return self.role == Role.COMPLIANCE

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser


class Scope(models.TextChoices):
    EVENTS = "events", "Send events"
    DECISIONS = "decisions", "Request decisions"
    OUTCOMES = "outcomes", "Report outcomes"
    CONTENT = "content", "Fetch web content"
    KYC = "kyc", "Send KYC and sanctions changes"


class ApiClient(models.Model):
    """A channel system (mobile app, website, email platform...) calling the API.

    Only a hash of the token is stored; the token itself is shown once on creation.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, unique=True)
    scopes = models.JSONField(default=list)
    token_prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def has_scope(self, scope: str) -> bool:
        return self.is_active and scope in self.scopes

    # DRF's IsAuthenticated and templates look at these.
    is_authenticated = True
    is_anonymous = False


class AuditEvent(models.Model):
    """Who changed what, when, with the values before and after.

    Written by services in the same transaction as the change itself.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"


class TaskRunState(models.TextChoices):
    PENDING = "pending", "Queued"
    STARTED = "started", "Running"
    RETRY = "retry", "Retrying"
    SUCCESS = "success", "Succeeded"
    FAILURE = "failure", "Failed"
    LOST = "lost", "Lost (no progress)"


class TaskRun(models.Model):
    """One run of a Celery task, written from Celery's publish/prerun/postrun signals."""

    id = models.BigAutoField(primary_key=True)
    task_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, db_index=True)
    label = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=TaskRunState.choices, default=TaskRunState.PENDING)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} [{self.state}]"

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, int(100 * self.done / self.total))

    @property
    def is_finished(self) -> bool:
        return self.state in (TaskRunState.SUCCESS, TaskRunState.FAILURE, TaskRunState.LOST)

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or self.updated_at
        return (end - self.started_at).total_seconds()


class IdempotencyKey(models.Model):
    """Remembers a POST by (caller, endpoint, key) so a retry returns the first answer."""

    id = models.BigAutoField(primary_key=True)
    owner = models.CharField(max_length=80)
    endpoint = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "endpoint", "key"], name="idempotency_key_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.endpoint} {self.key}"
