"""The offer catalogue: business issue > offer group > offer > treatment.

Levers are business weights in percent (100 = neutral) on issue, group and
offer; arbitration multiplies them into an offer's priority.
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from customers.models import Product

LEVER = {"default": 100, "validators": [MinValueValidator(0), MaxValueValidator(1000)]}


class BusinessIssue(models.Model):
    """Why the bank makes an offer at all: grow, retain, service..."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    lever_percent = models.PositiveSmallIntegerField(**LEVER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class OfferGroup(models.Model):
    """A product family's offers within an issue."""

    issue = models.ForeignKey(BusinessIssue, on_delete=models.PROTECT, related_name="groups")
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    lever_percent = models.PositiveSmallIntegerField(**LEVER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["issue_id", "code"]

    def __str__(self) -> str:
        return self.name


class Offer(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    group = models.ForeignKey(OfferGroup, on_delete=models.PROTECT, related_name="offers")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="offers")
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    headline_value = models.CharField(max_length=60, blank=True, help_text="Shown to customers, e.g. '4.1% APR'.")
    value = models.DecimalField(max_digits=18, decimal_places=2, help_text="Expected value to the bank of a take-up.")
    currency = models.CharField(max_length=3)
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    is_credit = models.BooleanField(default=False)
    exclusion_group = models.SlugField(
        max_length=40, blank=True, help_text="At most one offer of a group is made at a time."
    )
    lever_percent = models.PositiveSmallIntegerField(**LEVER)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="offer_ends_after_it_starts",
            )
        ]

    def __str__(self) -> str:
        return self.name


class TreatmentChannel(models.TextChoices):
    EMAIL = "email", "Email"
    PUSH = "push", "App push"
    WEB = "web", "Web content"
    CALL_CENTRE = "call_centre", "Call-centre talking points"


class Treatment(models.Model):
    """An offer's rendering on one channel. Templates use ``{{ field }}`` from
    ``decisioning.templates.TEMPLATE_FIELDS``, checked when saved; the product
    disclosures are mandatory and shown with every rendering."""

    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="treatments")
    channel = models.CharField(max_length=16, choices=TreatmentChannel.choices)
    subject = models.CharField(max_length=200, blank=True, help_text="Email subject or banner title.")
    body = models.TextField(help_text="Email body, push text, banner text or talking points.")
    disclosures = models.TextField(help_text="Mandatory product disclosures.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["offer_id", "channel"]
        constraints = [models.UniqueConstraint(fields=["offer", "channel"], name="treatment_one_per_channel")]

    def __str__(self) -> str:
        return f"{self.offer_id} on {self.channel}"


class PolicyKind(models.TextChoices):
    ELIGIBILITY = "eligibility", "Eligibility"  # may this customer have it at all
    APPLICABILITY = "applicability", "Applicability"  # does it fit this moment and channel
    SUITABILITY = "suitability", "Suitability"  # is it right for this customer


class RuleSetStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    RETIRED = "retired", "Retired"


class RuleSetVersion(models.Model):
    """Every policy rule, as one versioned document. A draft is edited in place;
    publishing validates every rule, freezes the document with its hash and
    retires the previous published version. A published version never changes:
    the next edit starts a new draft from it. Decisions reference the version
    they ran, so any decision can be explained and replayed later."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=16, choices=RuleSetStatus.choices, default=RuleSetStatus.DRAFT)
    rules = models.JSONField(default=list, help_text="[{id, name, kind, scope, scope_code, tree}, ...]")
    content_sha256 = models.CharField(max_length=64, blank=True)
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    published_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="published"), name="rule_set_one_published"
            ),
            models.UniqueConstraint(fields=["status"], condition=models.Q(status="draft"), name="rule_set_one_draft"),
        ]

    def __str__(self) -> str:
        return f"rule set v{self.version} ({self.status})"
