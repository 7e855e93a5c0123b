"""Feature tables per cut-off: computed once by ``compute_features``, stored as a
Parquet file under ``MODEL_DIR/features`` and read back by training and batch
scoring, so both see exactly the numbers the real-time path would compute.

The file is written to a temporary name and renamed into place, and its sha256 is
kept on the ``FeatureSnapshot`` row; reading checks it, so a truncated or edited
table is refused rather than scored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import time
import zoneinfo
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from modeling.features import compute_features
from modeling.models import FeatureSnapshot, SnapshotStatus

logger = logging.getLogger(__name__)
SNAPSHOT_DIR = "features"


class SnapshotError(Exception):
    """A feature table that cannot be used, with the reason."""


def bank_today(now: dt.datetime) -> dt.date:
    """The bank's calendar date at ``now``."""
    return now.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIME_ZONE)).date()


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over column names, index and every value: equal tables, equal fingerprints."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(frame: pd.DataFrame, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".parquet")
    os.close(fd)
    try:
        frame.to_parquet(tmp, engine="pyarrow", index=True, compression="zstd")
        sha = file_sha256(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha


def feature_snapshot_build(
    *, cutoff: dt.date, known_at: dt.datetime | None = None, now: dt.datetime | None = None
) -> FeatureSnapshot:
    """Compute and store the feature table of every customer as of ``cutoff``.

    ``known_at`` defaults to ``now``: a snapshot of a past cut-off built today reads
    history loaded after the fact (its ``received_at`` is the load time) but never
    a fact dated on or after the cut-off. A failure leaves the row ``failed`` with
    the error, and no file.
    """
    now = now or timezone.now()
    known_at = known_at or now
    snapshot = FeatureSnapshot.objects.create(cutoff=cutoff, known_at=known_at)
    started = time.perf_counter()
    relative = Path(SNAPSHOT_DIR) / f"{cutoff.isoformat()}-{snapshot.public_id}.parquet"
    target = Path(settings.MODEL_DIR) / relative
    try:
        frame = compute_features(cutoff=cutoff, known_at=known_at)
        sha = _write_atomically(frame, target)
        fingerprint = frame_fingerprint(frame)
    except Exception as exc:
        target.unlink(missing_ok=True)
        FeatureSnapshot.objects.filter(pk=snapshot.pk).update(
            status=SnapshotStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=timezone.now()
        )
        logger.warning("feature snapshot %s as of %s failed: %s", snapshot.pk, cutoff, type(exc).__name__)
        raise
    snapshot.path = str(relative)
    snapshot.sha256 = sha
    snapshot.data_fingerprint = fingerprint
    snapshot.columns = list(frame.columns)
    snapshot.customer_count = len(frame)
    snapshot.seconds = time.perf_counter() - started
    snapshot.status = SnapshotStatus.READY
    snapshot.save()
    logger.info(
        "feature snapshot %s: %d customers as of %s in %.1f s", snapshot.pk, len(frame), cutoff, snapshot.seconds
    )
    return snapshot


def feature_snapshot_latest(*, cutoff: dt.date, known_after: dt.datetime | None = None) -> FeatureSnapshot | None:
    """The newest ready snapshot of ``cutoff``, built with facts known at or after ``known_after``."""
    qs = FeatureSnapshot.objects.filter(cutoff=cutoff, status=SnapshotStatus.READY)
    if known_after is not None:
        qs = qs.filter(known_at__gte=known_after)
    return qs.order_by("-known_at", "-pk").first()


def feature_snapshot_get_or_build(
    *, cutoff: dt.date, now: dt.datetime, max_age: dt.timedelta = dt.timedelta(hours=12)
) -> FeatureSnapshot:
    """A ready snapshot of ``cutoff`` built at most ``max_age`` ago whose file is
    still there, or a new one."""
    existing = feature_snapshot_latest(cutoff=cutoff, known_after=now - max_age)
    if existing is not None and (Path(settings.MODEL_DIR) / existing.path).is_file():
        return existing
    return feature_snapshot_build(cutoff=cutoff, now=now)


def feature_snapshot_load(
    snapshot: FeatureSnapshot, *, customer_ids: Sequence[int] | None = None, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The stored table (optionally some customers and columns), after checking its
    hash: exactly what ``compute_features`` returned, dtypes included."""
    if snapshot.status != SnapshotStatus.READY:
        raise SnapshotError(f"feature snapshot {snapshot.pk} is {snapshot.status}, not ready")
    path = Path(settings.MODEL_DIR) / snapshot.path
    if not snapshot.path or not path.is_file():
        raise SnapshotError(f"feature snapshot {snapshot.pk}: file {path} is missing")
    if file_sha256(path) != snapshot.sha256:
        raise SnapshotError(
            f"feature snapshot {snapshot.pk}: {path} does not match its recorded sha256 "
            "(truncated or changed since it was written)"
        )
    if columns is not None:
        missing = [c for c in columns if c not in snapshot.columns]
        if missing:
            raise SnapshotError(f"feature snapshot {snapshot.pk} has no column(s) {', '.join(missing)}")
    try:
        frame = pd.read_parquet(path, engine="pyarrow", columns=list(columns) if columns is not None else None)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise SnapshotError(f"feature snapshot {snapshot.pk}: {path} is not a readable table: {exc}") from exc
    for column in frame.columns:
        # Parquet may give text back as pandas' string dtype; compute_features returns object.
        if pd.api.types.is_string_dtype(frame[column].dtype) and frame[column].dtype != object:
            frame[column] = frame[column].astype(object)
    if customer_ids is not None:
        frame = frame.loc[frame.index.intersection(pd.Index(sorted(set(customer_ids)), dtype="int64"))]
    return frame


def feature_snapshots_prune(*, keep_per_cutoff: int = 1) -> int:
    """Delete what nobody needs: failed snapshots, and ready ones older than the
    newest ``keep_per_cutoff`` of their cut-off that no segmentation or scoring run
    references. Files go once the deletion commits. Returns the rows deleted."""
    doomed: list[FeatureSnapshot] = []
    for cutoff in FeatureSnapshot.objects.values_list("cutoff", flat=True).distinct().order_by("cutoff"):
        of_cutoff = FeatureSnapshot.objects.filter(cutoff=cutoff)
        doomed += of_cutoff.filter(status=SnapshotStatus.FAILED)
        doomed += of_cutoff.filter(status=SnapshotStatus.READY).order_by("-created_at", "-pk")[keep_per_cutoff:]
    removed = 0
    with transaction.atomic():
        for snapshot in doomed:
            if snapshot.segmentations.exists() or snapshot.scoring_runs.exists():
                continue
            if snapshot.path:
                path = Path(settings.MODEL_DIR) / snapshot.path
                transaction.on_commit(lambda path=path: path.unlink(missing_ok=True))
            snapshot.delete()
            removed += 1
    return removed
