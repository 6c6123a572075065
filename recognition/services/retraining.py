"""Retraining: fine-tune the active model on corrections in a worker, and promote it if the gate agrees."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from PIL import Image

from recognition import selectors
from recognition.exceptions import Conflict
from recognition.models import ModelChange, ModelVersion, RetrainingRun, TrainingSample
from recognition.services.enqueue import RETRAIN_MODEL, task_enqueue
from recognition.services.models import check_model_kind, model_activate
from recognition.services.status_machine import claim_for_work, fail_unless_finished

# The sequence reader's model kind: it learns from whole-field samples (recognition.services.samples).
WHOLE_FIELD_KIND = "sequence"
# A retraining that was started this many times without finishing keeps killing its worker.
MAX_RETRAINING_ATTEMPTS = 3


def training_sample_set_excluded(*, sample_id: int, excluded: bool) -> TrainingSample:
    """Leave a sample out of (or take it back into) retraining, e.g. when its label is wrong."""
    with transaction.atomic():
        sample = selectors.get_or_not_found(
            TrainingSample.objects.select_for_update(), sample_id, "No such training sample."
        )
        if sample.excluded != excluded:
            sample.excluded = excluded
            sample.save(update_fields=["excluded"])
    return sample


def check_retraining_possible(*, kind: str) -> ModelVersion:
    """The active version to fine-tune; refuses a second run of a kind or too few corrections."""

    check_model_kind(kind=kind)
    champion = selectors.model_version_active(kind=kind)
    if champion is None:
        raise Conflict(f"There is no active {kind} model to start from.")
    if RetrainingRun.objects.filter(kind=kind).exclude(status__in=RetrainingRun.FINISHED).exists():
        raise Conflict(f"A {kind} retraining is already queued or running.")
    count = selectors.training_samples_for_model(kind=kind).count()
    if count < settings.RETRAIN_MIN_SAMPLES:
        raise Conflict(
            f"Only {count} {kind} training samples; retraining needs at least {settings.RETRAIN_MIN_SAMPLES}."
        )
    return champion


def _retraining_run_create(*, kind: str, user, message: str) -> RetrainingRun:
    """A queued run of `kind` from its active version; call inside a transaction."""
    # Two admins pressing the button at once: the second waits on the
    # active version's row lock, then finds the first run and is refused.
    list(ModelVersion.objects.select_for_update().filter(kind=kind, status=ModelVersion.Status.ACTIVE))
    champion = check_retraining_possible(kind=kind)
    return RetrainingRun.objects.create(
        kind=kind,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        base_version=champion,
        message=message,
    )


def retraining_request(*, kind: str, user) -> RetrainingRun:
    """Queue a retraining of `kind` from the active version; the task is sent once the row is committed."""
    with transaction.atomic():
        run = _retraining_run_create(kind=kind, user=user, message="waiting for a training worker")
        transaction.on_commit(lambda: task_enqueue(name=RETRAIN_MODEL, args=[run.pk]))
    return run


# The character model each field kind's characters train; text fields have none.
FIELD_KIND_CHARACTER_MODELS = {
    "digits": "digits",
    "date": "digits",
    "amount": "digits",
    "letters": "letters",
    "alnum": "alnum",
}


def retraining_model_kind(*, kind: str) -> str:
    """The model a retraining asked for by a model or field kind trains.

    `sequence` and `text` name the sequence reader. Any other field kind names the sequence reader when
    whole-field samples of that kind (corrected free fields, imports) wait and a sequence reader is
    active, else the character model its comb fields' characters train (date and amount: digits).
    """
    if kind in (WHOLE_FIELD_KIND, "text"):
        return WHOLE_FIELD_KIND
    if kind not in FIELD_KIND_CHARACTER_MODELS:
        check_model_kind(kind=kind)
    whole_fields = selectors.training_samples_for_model(kind=WHOLE_FIELD_KIND).filter(field_kind=kind)
    if whole_fields.exists() and selectors.model_version_active(kind=WHOLE_FIELD_KIND) is not None:
        return WHOLE_FIELD_KIND
    return FIELD_KIND_CHARACTER_MODELS[kind]


def retraining_run_now(*, kind: str, user, on_progress=None) -> RetrainingRun:
    """One retraining of model kind `kind` in this process (the `retrain` command): the same checks,
    run record, gate, version and change log as a queued one. on_progress(fraction, message) is called
    as it goes. An interruption fails the run, so it never blocks the next one."""
    with transaction.atomic():
        run = _retraining_run_create(kind=kind, user=user, message="starting in the foreground")
    try:
        finished = retraining_execute(run_id=run.pk, on_progress=on_progress)
    except BaseException as error:
        retraining_fail(run_id=run.pk, reason=f"Interrupted ({type(error).__name__}).")
        raise
    return finished or RetrainingRun.objects.get(pk=run.pk)


def retraining_claim(*, run_id: int) -> RetrainingRun | None:
    """Move a run to running; None when it is already finished (a duplicate delivery)."""
    return claim_for_work(
        RetrainingRun.objects.select_related("base_version"),
        run_id,
        running_status=RetrainingRun.Status.RUNNING,
        max_attempts=MAX_RETRAINING_ATTEMPTS,
        finish_failed=_retraining_finish_failed,
        progress=0.0,
        message="loading data",
    )


def retraining_report_progress(*, run_id: int, fraction: float, message: str) -> None:
    """Store live progress; a plain UPDATE, so polling readers never wait on the training transaction."""
    RetrainingRun.objects.filter(pk=run_id, status=RetrainingRun.Status.RUNNING).update(
        progress=max(0.0, min(1.0, fraction)), message=message[:255]
    )


def retraining_fail(*, run_id: int, reason: str) -> RetrainingRun:
    return fail_unless_finished(RetrainingRun, run_id, reason, _retraining_finish_failed)


def _retraining_finish_failed(run: RetrainingRun, reason: str) -> None:
    run.status = RetrainingRun.Status.FAILED
    run.error = reason[:2000]
    run.message = "failed"
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "message", "finished_at"])


def _load_sample_image(sample: TrainingSample) -> np.ndarray:
    with Image.open(sample.image.path) as image:
        return np.asarray(image.convert("L"))


def retraining_base_data(*, kind: str):
    """The base data a retraining replays and validates on: MNIST train (digits) and femnist-dev.

    The split is the training command's (fixed seeds), so the base
    validation set is the same for the champion and the challenger.
    """
    from recognition.engine.learning import train

    mnist_dir = Path(settings.DATA_DIR) / "mnist"
    has_mnist = kind != "letters" and any(
        (mnist_dir / name).exists() for name in ("train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz")
    )
    femnist_dir = Path(settings.FEMNIST_DIR)
    if not has_mnist and not femnist_dir.is_dir():
        raise ValueError(
            f"No base data for {kind}: run `python manage.py fetch_data mnist` or set FEMNIST_DIR."
        )
    return train.assemble_data(
        kind,
        mnist_dir if has_mnist else None,
        femnist_dir if femnist_dir.is_dir() else None,
        limit=settings.RETRAIN_BASE_LIMIT,
    )


def _retrain_sequence(*, champion: ModelVersion, samples: list, new_version_dir: Path, on_progress):
    """Fine-tune the sequence reader on whole-field samples (engine.sequences.finetune)."""
    from recognition.engine.sequences import finetune as sequence_finetune

    samples = [sample for sample in samples if sample.field_kind]
    return sequence_finetune.retrain_sequence(
        champion_dir=Path(champion.path),
        new_version_dir=new_version_dir,
        samples=sequence_finetune.FieldSamples(
            ids=[sample.pk for sample in samples],
            images=[_load_sample_image(sample) for sample in samples],
            texts=[sample.label for sample in samples],
            kinds=[sample.field_kind for sample in samples],
        ),
        mnist_dir=Path(settings.DATA_DIR) / "mnist",
        options=sequence_finetune.SequenceFineTuneOptions(steps=settings.RETRAIN_SEQUENCE_STEPS),
        on_progress=on_progress,
    )


def retraining_execute(*, run_id: int, on_progress=None) -> RetrainingRun | None:
    """Run one retraining (called by the training task): fine-tune, judge, store, promote if better.

    The heavy work happens outside any transaction; only the outcome is
    written in one. A failure leaves the run failed with its reason and no
    half-registered version.
    """
    from recognition.engine.learning import versions

    run = retraining_claim(run_id=run_id)
    if run is None:
        return None
    champion = run.base_version or selectors.model_version_active(kind=run.kind)
    if champion is None:
        return retraining_fail(run_id=run_id, reason=f"There is no active {run.kind} model to start from.")
    samples = list(selectors.training_samples_for_model(kind=run.kind))
    kind_dir = Path(settings.MODEL_DIR) / run.kind
    new_version_dir = kind_dir / versions.next_version(kind_dir)

    def report(fraction: float, message: str) -> None:
        retraining_report_progress(run_id=run_id, fraction=fraction, message=message)
        if on_progress is not None:
            on_progress(fraction, message)

    try:
        if run.kind == WHOLE_FIELD_KIND:
            outcome = _retrain_sequence(
                champion=champion, samples=samples, new_version_dir=new_version_dir, on_progress=report
            )
        else:
            outcome = _retrain_characters(
                run=run, champion=champion, samples=samples, new_version_dir=new_version_dir, report=report
            )
    except (ValueError, OSError) as error:
        shutil.rmtree(new_version_dir, ignore_errors=True)
        return retraining_fail(run_id=run_id, reason=str(error) or type(error).__name__)
    return _retraining_finish(run_id=run_id, champion=champion, outcome=outcome, version_dir=new_version_dir)


def _retrain_characters(
    *, run: RetrainingRun, champion: ModelVersion, samples: list, new_version_dir: Path, report
):
    """Fine-tune a character model on per-character samples (engine.learning.retrain)."""
    from recognition.engine.learning import finetune, retrain

    base = retraining_base_data(kind=run.kind)
    return retrain.retrain(
        kind=run.kind,
        champion_dir=Path(champion.path),
        new_version_dir=new_version_dir,
        samples=retrain.CorrectionSamples(
            ids=[sample.pk for sample in samples],
            images=[_load_sample_image(sample) for sample in samples],
            labels=[sample.label for sample in samples],
        ),
        base=base,
        options=finetune.FineTuneOptions(steps=settings.RETRAIN_STEPS),
        on_progress=report,
    )


def _retraining_finish(*, run_id: int, champion: ModelVersion, outcome, version_dir: Path) -> RetrainingRun:
    """Register the new version and act on the gate's verdict, in one transaction."""
    with transaction.atomic():
        run = RetrainingRun.objects.select_for_update().get(pk=run_id)
        version = ModelVersion.objects.create(
            kind=run.kind,
            version=version_dir.name,
            path=str(version_dir),
            metrics=outcome.card.get("metrics", {}),
            parent=champion,
            decision_reason=outcome.decision.reason,
            status=ModelVersion.Status.CANDIDATE,
        )
        if outcome.decision.promote:
            model_activate(
                version,
                user=None,
                action=ModelChange.Action.PROMOTED,
                reason=f"Promotion gate: {outcome.decision.reason}",
            )
            run.status = RetrainingRun.Status.PROMOTED
        else:
            version.status = ModelVersion.Status.REJECTED
            version.save(update_fields=["status"])
            ModelChange.objects.create(
                version=version,
                previous=champion,
                action=ModelChange.Action.REJECTED,
                reason=f"Promotion gate: {outcome.decision.reason}",
            )
            run.status = RetrainingRun.Status.REJECTED
        run.new_version = version
        run.samples_trained = outcome.train_count
        run.samples_held_out = outcome.holdout_count
        run.evaluation = {"champion": outcome.champion, "challenger": outcome.challenger}
        run.progress = 1.0
        run.message = outcome.decision.reason[:255]
        run.finished_at = timezone.now()
        run.save()
    return run
