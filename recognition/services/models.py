"""Model versions: register the ones on disk, make one active (promote, roll back) and log the change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction

from recognition import selectors
from recognition.exceptions import Conflict, InvalidInput
from recognition.models import ModelChange, ModelVersion

# The retrainable kinds: the character models and the sequence reader of free fields (engine.sequences,
# spelled out here so the web process does not import the engine), which learns from whole fields.
MODEL_KINDS = ("digits", "letters", "alnum", "sequence")
# Kinds whose active version can be changed by hand: the retrainable ones and the touching-pair reader
# of free digit fields (recognition.engine.characters.pairs.PAIR_KIND), served but not retrained.
SERVED_KINDS = (*MODEL_KINDS, "digit-pairs")


def check_model_kind(*, kind: str, kinds: Sequence[str] = MODEL_KINDS) -> str:
    if kind not in kinds:
        raise InvalidInput(f"Unknown model kind {kind!r}; choose one of {', '.join(kinds)}.")
    return kind


def model_versions_sync(*, model_dir: Path | None = None) -> list[ModelVersion]:
    """Register every model folder (<kind>/<version>/model.keras) found on disk; the ACTIVE one is active."""
    model_dir = Path(model_dir or settings.MODEL_DIR)
    found = []
    if not model_dir.is_dir():
        return found
    with transaction.atomic():
        for kind_dir in sorted(path for path in model_dir.iterdir() if path.is_dir()):
            version_dirs = [path for path in kind_dir.iterdir() if (path / "model.keras").is_file()]
            if not version_dirs:
                continue
            active_file = kind_dir / "ACTIVE"
            if active_file.is_file():
                active = active_file.read_text().strip()
            else:
                numeric = [path.name for path in version_dirs if path.name.isdigit()]
                active = max(numeric, key=int) if numeric else sorted(path.name for path in version_dirs)[-1]
            for version_dir in version_dirs:
                metrics: dict = {}
                card = version_dir / "card.json"
                if card.is_file():
                    try:
                        metrics = json.loads(card.read_text()).get("metrics", {}) or {}
                    except (json.JSONDecodeError, AttributeError):
                        metrics = {}
                row, _ = ModelVersion.objects.update_or_create(
                    kind=kind_dir.name,
                    version=version_dir.name,
                    defaults={"path": str(version_dir), "metrics": metrics},
                )
                status = ModelVersion.Status.ACTIVE if version_dir.name == active else None
                if status is None and row.status == ModelVersion.Status.ACTIVE:
                    status = ModelVersion.Status.CANDIDATE
                if status is not None and row.status != status:
                    row.status = status
                    row.save(update_fields=["status"])
                found.append(row)
    return found


def _write_active_file(kind: str, version: str) -> None:
    """Point models/<kind>/ACTIVE at a version (atomically), for the command-line tools."""
    kind_dir = Path(settings.MODEL_DIR) / kind
    temporary = kind_dir / f".ACTIVE.{uuid.uuid4().hex}"
    temporary.write_text(version + "\n")
    temporary.replace(kind_dir / "ACTIVE")


def model_activate(version: ModelVersion, *, user, action: str, reason: str) -> ModelVersion:
    """Make `version` the active one of its kind and log the change; call inside a transaction."""
    versions = ModelVersion.objects.select_for_update().filter(kind=version.kind)
    previous = versions.filter(status=ModelVersion.Status.ACTIVE).exclude(pk=version.pk).first()
    if previous is not None:
        previous.status = ModelVersion.Status.CANDIDATE
        previous.save(update_fields=["status"])
    version.status = ModelVersion.Status.ACTIVE
    version.save(update_fields=["status"])
    ModelChange.objects.create(
        version=version,
        previous=previous,
        action=action,
        user=user if getattr(user, "is_authenticated", False) else None,
        reason=reason,
    )
    # The database is what workers read at each task; the file follows it
    # once committed, for recognize_form and the other commands.
    transaction.on_commit(lambda: _write_active_file(version.kind, version.version))
    return version


def model_promote(*, version_id: int, user, reason: str) -> ModelVersion:
    """Make any version active by hand (an admin's decision, with its reason)."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why this version should become active.")
    with transaction.atomic():
        version = selectors.get_or_not_found(
            ModelVersion.objects.select_for_update(), version_id, "No such model version."
        )
        if version.status == ModelVersion.Status.ACTIVE:
            raise Conflict(f"{version.kind}@{version.version} is already active.")
        if not (Path(version.path) / "model.keras").is_file():
            raise Conflict(f"The model file of {version.kind}@{version.version} is missing.")
        return model_activate(version, user=user, action=ModelChange.Action.PROMOTED, reason=reason)


def model_rollback(*, kind: str, user, reason: str) -> ModelVersion:
    """Make the version that was active before the current one active again."""
    check_model_kind(kind=kind, kinds=SERVED_KINDS)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why the model is rolled back.")
    with transaction.atomic():
        current = (
            ModelVersion.objects.select_for_update()
            .filter(kind=kind, status=ModelVersion.Status.ACTIVE)
            .first()
        )
        last_change = (
            ModelChange.objects.filter(
                version=current, action__in=[ModelChange.Action.PROMOTED, ModelChange.Action.ROLLED_BACK]
            )
            .select_related("previous")
            .first()
            if current
            else None
        )
        if last_change is None or last_change.previous is None:
            raise Conflict(f"There is no earlier active {kind} model to roll back to.")
        return model_activate(
            last_change.previous, user=user, action=ModelChange.Action.ROLLED_BACK, reason=reason
        )
