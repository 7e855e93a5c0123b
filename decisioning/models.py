"""The offer catalogue: business issue > offer group > offer > treatment.

Levers are business weights in percent (100 = neutral) on issue, group and
offer; arbitration multiplies them into an offer's priority.
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from customers.models import Customer, Product

LEVER = {"default": 100, "validators": [MinValueValidator(0), MaxValueValidator(1000)]}


class BusinessIssue(models.Model):
    """Why the bank makes an offer at all: grow, retain, service..."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    lever_percent = models.PositiveSmallIntegerField(**LEVER)
    transactional = models.BooleanField(
        default=False,
        help_text="Service messages the customer needs (not marketing): they bypass marketing contact caps "
        "and need no marketing consent.",
    )
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


class ContactPolicyKind(models.TextChoices):
    CHANNEL_CAP = "channel_cap", "Channel cap"  # at most `limit` marketing offers on `channel` per period
    GLOBAL_CAP = "global_cap", "Global cap"  # at most `limit` marketing offers on all channels per period
    SUPPRESSION = "suppression", "Suppression"  # `limit` negative responses to a product within period -> rest


class ContactPolicy(models.Model):
    """A limit on how often the bank contacts a customer, counted from the contact
    history (offers made, by Crossell or imported). Caps count offers made on the
    channel (or every channel) over the last ``period_days``; a suppression stops
    offering a product for ``suppress_days`` after ``limit`` rejections or ignores
    of it within ``period_days``. Transactional issues bypass the caps."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=ContactPolicyKind.choices)
    channel = models.CharField(
        max_length=16, blank=True, choices=TreatmentChannel.choices, help_text="Empty: every channel."
    )
    limit = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(1000)])
    period_days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(3650)])
    suppress_days = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(3650)], help_text="Suppressions only: how long the rest lasts."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "code"]
        verbose_name_plural = "contact policies"

    def __str__(self) -> str:
        return self.name


class DecisionKind(models.TextChoices):
    REALTIME = "realtime", "Real time"  # a channel asked; the offers returned count as made
    BATCH = "batch", "Batch"  # proposed by a batch run, made when a campaign delivers them
    SIMULATION = "simulation", "Simulation"  # a person trying a decision: nothing is contacted
    HELD_OUT = "held_out", "Held out"  # a campaign's control group: decided, never sent, for measuring lift


class BatchRunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BatchDecisionRun(models.Model):
    """Next-best-action for every customer of an audience on one channel, in chunks
    (``BatchChunk``) that any number of workers share."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(max_length=16, choices=TreatmentChannel.choices)
    audience = models.JSONField(default=dict, help_text='{"segment": code} or {} for every customer.')
    max_results = models.PositiveSmallIntegerField(default=1)
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=BatchRunStatus.choices, default=BatchRunStatus.PENDING)
    rule_set = models.ForeignKey(RuleSetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    offers_made = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey("core.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    now = models.DateTimeField(help_text="The clock every decision of the run uses.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"batch run {self.public_id} on {self.channel} ({self.status})"


class BatchChunk(models.Model):
    """A slice of a batch run's audience (customer ids ``first_customer_id`` to
    ``last_customer_id``). Workers claim pending chunks with ``SKIP LOCKED`` and
    write a chunk's decisions and mark it done in one transaction: any number of
    workers share a run, and a chunk whose worker died is simply claimed again."""

    run = models.ForeignKey(BatchDecisionRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    first_customer_id = models.BigIntegerField()
    last_customer_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    done = models.BooleanField(default=False)
    offers_made = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "number"]
        constraints = [models.UniqueConstraint(fields=["run", "number"], name="batch_chunk_unique_number")]
        indexes = [models.Index(fields=["run", "done", "number"], name="batch_chunk_pending")]

    def __str__(self) -> str:
        return f"chunk {self.number} of run {self.run_id}"


class CatalogueSnapshot(models.Model):
    """The offers (levers, values, dates, treatments of a channel, acceptance rates)
    and contact policies as a decision saw them, stored once per distinct content
    and referenced by every decision that saw the same: a decision record stays
    small however large the catalogue."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    content = models.JSONField(help_text='{"offers": [...], "policies": [...]}')
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"catalogue snapshot {self.sha256[:12]}"


class Decision(models.Model):
    """One decision, kept so it can be explained and replayed: the inputs the engine
    saw (no contact details; the catalogue by reference), the scores, the rule-set
    and model versions, the offers made and, for every offer left out, the stage
    and reason. Few indexes: a decision is written on every request."""

    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=16, choices=DecisionKind.choices)
    channel = models.CharField(max_length=16, choices=TreatmentChannel.choices)
    made_at = models.DateTimeField()
    rule_set = models.ForeignKey(
        RuleSetVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    catalogue = models.ForeignKey(CatalogueSnapshot, on_delete=models.PROTECT, related_name="+", db_index=False)
    model_versions = models.JSONField(default=dict, help_text="{product code: model version id} of the scores used.")
    rules_only = models.BooleanField(default=False, help_text="No model score: propensity from acceptance rates.")
    inputs = models.JSONField(help_text="Everything the engine read but the catalogue, as plain values.")
    scores = models.JSONField(default=dict)
    offers = models.JSONField(default=list, help_text="The ranked offers returned, with factors and reasons.")
    funnel = models.JSONField(default=dict, help_text="For each offer left out: the stage and why.")
    batch_run = models.ForeignKey(
        BatchDecisionRun, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions", db_index=False
    )
    requested_by = models.CharField(max_length=80, blank=True)
    engine_version = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["-made_at", "-id"]
        indexes = [models.Index(fields=["customer", "made_at"], name="decision_customer_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["batch_run", "customer"],
                condition=models.Q(batch_run__isnull=False),
                name="decision_once_per_batch_customer",
            )
        ]

    def __str__(self) -> str:
        return f"decision {self.public_id} for {self.customer_id} on {self.channel}"
