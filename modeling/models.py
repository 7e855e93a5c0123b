"""What the modeling app keeps: feature tables per cut-off, segmentation versions
and memberships, propensity model versions (the registry), and batch scores.

Versioned rows (``FeatureSnapshot``, ``Segmentation``, ``ModelVersion``) are
immutable once built: a retrain writes a new version, never an edit, so every
score and decision can name exactly what produced it.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Customer, Product


class SnapshotStatus(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class FeatureSnapshot(models.Model):
    """The feature table of every customer as of one cut-off, stored as a Parquet
    file under ``MODEL_DIR/features`` (written atomically, checked by its hash) so
    training and batch scoring read the same numbers without recomputing them."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    cutoff = models.DateField()
    known_at = models.DateTimeField(help_text="Facts received from this instant on were ignored.")
    status = models.CharField(max_length=16, choices=SnapshotStatus.choices, default=SnapshotStatus.BUILDING)
    path = models.CharField(max_length=500, blank=True, help_text="Relative to MODEL_DIR.")
    sha256 = models.CharField(max_length=64, blank=True)
    data_fingerprint = models.CharField(
        max_length=64, blank=True, help_text="Hash of the feature values: equal fingerprints, equal tables."
    )
    columns = models.JSONField(default=list, blank=True)
    customer_count = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-cutoff", "-created_at"]
        indexes = [models.Index(fields=["cutoff", "status"], name="snapshot_cutoff_status")]

    def __str__(self) -> str:
        return f"features as of {self.cutoff} ({self.status})"


class SegmentationKind(models.TextChoices):
    BEHAVIOURAL = "behavioural", "Behavioural"
    VALUE = "value", "Value"
    DEMOGRAPHIC = "demographic", "Demographic"
    VALUE_TIER = "value_tier", "Value tier"


class SegmentationMethod(models.TextChoices):
    KMEANS = "kmeans", "k-means"
    GMM = "gmm", "Gaussian mixture"
    RULES = "rules", "Rules"


class Segmentation(models.Model):
    """One version of one way of segmenting customers, fitted (or evaluated, for
    rule-defined kinds) on one feature snapshot."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=SegmentationKind.choices)
    method = models.CharField(max_length=16, choices=SegmentationMethod.choices)
    version = models.PositiveIntegerField()
    snapshot = models.ForeignKey(FeatureSnapshot, on_delete=models.PROTECT, related_name="segmentations")
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    features = models.JSONField(default=list, blank=True, help_text="Ordered input features.")
    params = models.JSONField(default=dict, blank=True)
    selection = models.JSONField(
        default=dict, blank=True, help_text="How k was chosen: the score of each candidate k and the winner."
    )
    model = models.JSONField(default=dict, blank=True, help_text="Scaler and centres or mixture, as data.")
    is_current = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="segmentation_unique_version"),
            models.UniqueConstraint(
                fields=["kind"], condition=Q(is_current=True), name="segmentation_one_current_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} segmentation v{self.version}"


class Segment(models.Model):
    """A segment of one segmentation version. ``label`` is stable across versions:
    a refit cluster that matches a previous one keeps its label and name."""

    segmentation = models.ForeignKey(Segmentation, on_delete=models.CASCADE, related_name="segments")
    label = models.PositiveSmallIntegerField()
    code = models.SlugField(max_length=64, help_text="Stable name usable in rules, e.g. behavioural_3.")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    size = models.PositiveIntegerField(default=0)
    share = models.FloatField(default=0.0)
    value = models.JSONField(default=dict, blank=True, help_text="Value figures: mean balance, products held...")
    profile = models.JSONField(default=dict, blank=True, help_text="Distinguishing features against the population.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["segmentation_id", "label"]
        constraints = [
            models.UniqueConstraint(fields=["segmentation", "label"], name="segment_unique_label"),
            models.UniqueConstraint(fields=["segmentation", "code"], name="segment_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"


class SegmentMembership(models.Model):
    id = models.BigAutoField(primary_key=True)
    segmentation = models.ForeignKey(Segmentation, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    probability = models.FloatField(null=True, blank=True, help_text="Mixture membership probability, if any.")

    class Meta:
        ordering = ["segmentation_id", "customer_id"]
        constraints = [
            models.UniqueConstraint(fields=["segmentation", "customer"], name="membership_unique_customer"),
        ]
        indexes = [models.Index(fields=["customer", "segmentation"], name="membership_customer")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    APPROVED = "approved", "Approved"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"
    REJECTED = "rejected", "Rejected"


class ModelVersion(models.Model):
    """One trained propensity model of one product: an immutable artifact directory
    under ``MODEL_DIR`` plus what is needed to trust it (hashes, data fingerprint,
    features, parameters, library versions, metrics). Only ``status`` and its
    dates change, through the registry services."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="model_versions")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE)
    artifact_path = models.CharField(max_length=500, help_text="Directory relative to MODEL_DIR.")
    artifact_sha256 = models.CharField(max_length=64, help_text="sha256 of the manifest, which lists each file's.")
    format_version = models.PositiveSmallIntegerField()
    data_fingerprint = models.CharField(max_length=64)
    features = models.JSONField(default=list)
    params = models.JSONField(default=dict)
    library_versions = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    cutoffs = models.JSONField(default=dict, help_text="Training and test cut-offs, horizon.")
    seed = models.IntegerField(default=0)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    status_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["product", "version"], name="model_version_unique"),
            models.UniqueConstraint(
                fields=["product"], condition=Q(status="active"), name="model_version_one_active_per_product"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} v{self.version} ({self.status})"


class ScoringRunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ScoringRun(models.Model):
    """A batch scoring of every customer of a snapshot by the models active when it
    started. ``cursor`` is the last customer id whose scores are committed: a chunk
    writes its scores and moves the cursor in one transaction, so a run killed at
    any point resumes where it stopped with nothing lost or doubled."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    snapshot = models.ForeignKey(FeatureSnapshot, on_delete=models.PROTECT, related_name="scoring_runs")
    status = models.CharField(max_length=16, choices=ScoringRunStatus.choices, default=ScoringRunStatus.PENDING)
    model_versions = models.ManyToManyField(ModelVersion, related_name="scoring_runs", blank=True)
    cursor = models.BigIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"scoring run {self.pk} ({self.status})"


class Score(models.Model):
    """A calibrated propensity of one customer for one product in one run.

    Written a million rows a night by COPY: no database foreign keys (their
    per-row checks at commit doubled the write time; a run writes only ids it
    has just read) and no index beyond the two the reads use, (run, customer,
    product) and (customer, run). Django still cascades a run's deletion."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        ScoringRun, on_delete=models.CASCADE, db_constraint=False, db_index=False, related_name="scores"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    product = models.ForeignKey(
        Product, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, db_constraint=False, db_index=False, related_name="+"
    )
    propensity = models.FloatField()
    raw_score = models.FloatField(help_text="The booster's probability before calibration.")

    class Meta:
        ordering = ["run_id", "customer_id", "product_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "customer", "product"], name="score_unique_per_run"),
        ]
        indexes = [models.Index(fields=["customer", "run"], name="score_customer_run")]

    def __str__(self) -> str:
        return f"{self.customer_id} x {self.product_id}: {self.propensity:.4f}"


class OnlineFeatures(models.Model):
    """A customer's latest feature row, kept for real-time decisions: one indexed
    read instead of the many queries ``compute_features`` runs for one customer.

    ``values`` maps each catalogue column a model or a rule may use (protected
    attributes are never stored) to a JSON value: numbers (a missing one as
    null), booleans, categories as text. ``cutoff`` and ``known_at`` say what the
    row knew, as in a snapshot; ``snapshot`` is set when the row was copied from
    one. Written in bulk by ``modeling.online`` only, and never moved back to an
    older cut-off or knowledge time."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="+")
    values = models.JSONField(default=dict)
    cutoff = models.DateField()
    known_at = models.DateTimeField(help_text="Facts received from this instant on were ignored.")
    # No index and no database constraint: only a snapshot's pruning looks rows up
    # by it, and the nightly load writes a row per customer.
    snapshot = models.ForeignKey(
        FeatureSnapshot,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    refreshed_at = models.DateTimeField()

    class Meta:
        ordering = ["customer_id"]
        verbose_name_plural = "online features"

    def __str__(self) -> str:
        return f"{self.customer_id} as of {self.cutoff}"
