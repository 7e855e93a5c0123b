"""Campaigns, triggers, the delivery outbox, and the outcomes that come back.

A campaign decides for an audience (batch next-best-action) and queues what it
decides as ``Delivery`` rows, written in the transaction that stores the
decisions. Workers claim those rows and hand them to the channel; responses and
conversions are joined back to the decision and offer, and a sticky control
group (``CampaignMember.control``) receives nothing so lift can be measured.
"""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from customers.models import Customer, Product
from decisioning.models import BatchDecisionRun, Decision, Offer, TreatmentChannel


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"  # launched: runs on its schedule, triggers fire
    STOPPED = "stopped", "Stopped"
    COMPLETED = "completed", "Completed"  # a one-off campaign whose run is over


class CampaignSchedule(models.TextChoices):
    ONCE = "once", "Once, at launch"
    RECURRING = "recurring", "Recurring"
    TRIGGERED = "triggered", "On events (triggers)"


class Campaign(models.Model):
    """Offers to an audience on some channels, once, on a schedule, or on events."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    owner = models.ForeignKey("core.User", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    audience_segment = models.CharField(
        max_length=64, blank=True, help_text="A segment code; blank with no rule means every customer."
    )
    audience_rule = models.JSONField(
        null=True, blank=True, help_text="A condition tree over rule fields; customers it rejects are left out."
    )
    offers = models.ManyToManyField(Offer, blank=True, related_name="+", help_text="None chosen: the whole catalogue.")
    channels = models.JSONField(default=list, help_text="Treatment channels, e.g. ['email', 'push'].")
    schedule = models.CharField(max_length=16, choices=CampaignSchedule.choices, default=CampaignSchedule.ONCE)
    every_days = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    max_offers_per_customer = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(3)]
    )
    volume_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="At most this many messages per run (highest priority first)."
    )
    control_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(50)],
        help_text="Share of the audience that receives nothing, for measuring lift.",
    )
    attribution_days = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "code"]
        indexes = [models.Index(fields=["status", "next_run_at"], name="campaign_due")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(control_percent__gte=0, control_percent__lte=50), name="campaign_control_0_to_50"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CampaignMember(models.Model):
    """A customer in a campaign's audience, and whether they are held out. Sticky:
    assigned on first sight and never changed, so every run and every report sees
    the same split."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    control = models.BooleanField()
    assigned_at = models.DateTimeField()

    class Meta:
        ordering = ["campaign", "customer"]
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_member_once")]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id}{' control' if self.control else ''}"


class RunStatus(models.TextChoices):
    DECIDING = "deciding", "Deciding"
    DELIVERING = "delivering", "Delivering"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class CampaignRun(models.Model):
    """One run of a campaign on one channel: a batch decision run whose offers are
    queued for delivery as each chunk is written."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runs")
    channel = models.CharField(max_length=16, choices=TreatmentChannel.choices)
    batch_run = models.OneToOneField(BatchDecisionRun, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.DECIDING)
    audience = models.PositiveIntegerField(default=0, help_text="Customers decided for.")
    control = models.PositiveIntegerField(default=0, help_text="Of them, held out.")
    left_out = models.PositiveIntegerField(default=0, help_text="Rejected by the campaign's audience rule.")
    queued = models.PositiveIntegerField(default=0, help_text="Messages queued for delivery.")
    over_limit = models.PositiveIntegerField(default=0, help_text="Offers not queued: volume limit reached.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.channel} {self.started_at:%Y-%m-%d %H:%M}"


class Trigger(models.Model):
    """A pattern over a customer's events that re-decides for them and queues the
    offer (a triggered campaign). ``definition`` is validated data, compiled into a
    durable-rules ruleset by ``decisioning.triggers``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="triggers")
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    definition = models.JSONField(help_text="What to look for in the event stream; see docs/campaigns.md.")
    version = models.PositiveIntegerField(default=1)
    cooldown_days = models.PositiveSmallIntegerField(
        default=7, help_text="A customer fires this trigger at most once in this many days."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class TriggerFiring(models.Model):
    """A trigger that fired for a customer: the cooldown's memory, the decision it
    led to, and the latency from the event's commit to the queued offer."""

    trigger = models.ForeignKey(Trigger, on_delete=models.CASCADE, related_name="firings")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    trigger_version = models.PositiveIntegerField()
    event_ids = models.JSONField(default=list, help_text="The inbound event ids that made it fire.")
    facts = models.JSONField(default=dict, help_text="The facts the pattern matched, for the audit trail.")
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.PROTECT, related_name="+", to_field="public_id"
    )
    event_committed_at = models.DateTimeField()
    fired_at = models.DateTimeField()
    queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [models.Index(fields=["trigger", "customer", "fired_at"], name="trigger_firing_recent")]

    def __str__(self) -> str:
        return f"{self.trigger_id} for {self.customer_id} at {self.fired_at:%Y-%m-%d %H:%M}"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"  # claimed by a worker
    RETRY = "retry", "Waiting to retry"
    SENT = "sent", "Sent"
    BLOCKED = "blocked", "Blocked at send time"  # consent withdrawn or caps reached since the decision
    DEAD = "dead", "Dead letter"
    CANCELLED = "cancelled", "Cancelled"  # the campaign was stopped before it went


class Delivery(models.Model):
    """The outbox: one message to send, written in the transaction that stores its
    decision. ``public_id`` is the message's stable id (email Message-ID, push
    idempotency key), so a peer can drop a repeat sent after a crash."""

    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    decision = models.ForeignKey(
        Decision, on_delete=models.PROTECT, related_name="+", to_field="public_id", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", db_index=False)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries")
    run = models.ForeignKey(
        CampaignRun, null=True, blank=True, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    trigger = models.ForeignKey(Trigger, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, choices=TreatmentChannel.choices)
    offer_code = models.SlugField(max_length=40)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    rank = models.PositiveSmallIntegerField(default=1)
    contact_id = models.CharField(max_length=64, help_text="The contact-history row's external id.")
    transactional = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField(help_text="Not before: retries back off by moving it.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=80, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(fields=["status", "due_at"], name="delivery_due"),
            models.Index(fields=["customer", "channel", "sent_at"], name="delivery_customer_sent"),
            models.Index(fields=["decision"], name="delivery_decision"),
            models.Index(fields=["run", "status"], name="delivery_run_status"),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.channel} {self.offer_code}: {self.status}"


class PushGateway(models.Model):
    """Where app push notifications go: one row, edited in the UI. The secret signs
    each request (HMAC-SHA256) so the gateway can tell it came from the bank."""

    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200)
    timeout_seconds = models.DecimalField(
        max_digits=4, decimal_places=1, default=5, validators=[MinValueValidator(0.5), MaxValueValidator(60)]
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.url


class ResponseKind(models.TextChoices):
    IMPRESSION = "impression"
    CLICK = "click"
    ACCEPT = "accept"
    REJECT = "reject"
    DISMISS = "dismiss"


class OfferResponse(models.Model):
    """A customer's response to one offer of a decision, as a channel reported it.
    One row per (decision, offer, kind): a repeated report changes nothing."""

    id = models.BigAutoField(primary_key=True)
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+", to_field="public_id")
    offer_code = models.SlugField(max_length=40)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", db_index=False)
    channel = models.CharField(max_length=16, choices=TreatmentChannel.choices)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=ResponseKind.choices)
    occurred_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    source = models.CharField(max_length=80, help_text="The API client or person that reported it.")
    received_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["decision", "offer_code", "kind"], name="offer_response_once"),
        ]

    def __str__(self) -> str:
        return f"{self.decision_id} {self.offer_code}: {self.kind}"


class Conversion(models.Model):
    """A product opened within the attribution window after an offer of it, joined
    back to the decision, channel and campaign. Control-group customers convert
    too (without an offer): that is the baseline lift is measured against."""

    id = models.BigAutoField(primary_key=True)
    decision = models.ForeignKey(Decision, on_delete=models.PROTECT, related_name="+", to_field="public_id")
    offer_code = models.SlugField(max_length=40)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+", db_index=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=16, choices=TreatmentChannel.choices)
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    control = models.BooleanField(default=False)
    converted_at = models.DateTimeField()
    revenue = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=32, help_text="account import, event, or response (accept with amount).")
    evidence = models.CharField(max_length=100, blank=True, help_text="The account or event that showed it.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["converted_at", "id"]
        constraints = [models.UniqueConstraint(fields=["decision", "offer_code"], name="conversion_once_per_offer")]
        indexes = [models.Index(fields=["campaign", "converted_at"], name="conversion_campaign_time")]

    def __str__(self) -> str:
        return f"{self.decision_id} {self.offer_code} converted {self.converted_at:%Y-%m-%d}"
