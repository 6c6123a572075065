"""Retrain one model now, in the foreground, through the Retraining page's service; print the verdict."""

import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from recognition.exceptions import DomainError
from recognition.models import RetrainingRun
from recognition.services.models import MODEL_KINDS, model_versions_sync
from recognition.services.retraining import (
    FIELD_KIND_CHARACTER_MODELS,
    retraining_model_kind,
    retraining_run_now,
)

KINDS = sorted({*MODEL_KINDS, *FIELD_KIND_CHARACTER_MODELS, "text"})


class Command(BaseCommand):
    help = (
        "Retrain a model from its samples now, in this process: the same checks, gate, version and change "
        "log as the Retraining page. --kind is a model kind (digits, letters, alnum, sequence) or a field "
        "kind: a field kind retrains the sequence reader when whole-field samples of that kind wait (free "
        "fields, imports), else the character model of its comb fields. Exits 0 when the retraining ran, "
        "whether the new version was promoted or not."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=KINDS)
        parser.add_argument(
            "--model", choices=MODEL_KINDS, help="the model to retrain, whatever --kind would resolve to"
        )
        parser.add_argument("--user", metavar="USERNAME", help="who asked for it (recorded on the run)")

    def handle(self, *args, **options):
        self.bar = None
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user {options['user']!r}")
        # Versions on disk that the database does not know yet (as seed_templates registers them).
        model_versions_sync()
        try:
            kind = options["model"] or retraining_model_kind(kind=options["kind"])
            self.stdout.write(f"retraining {kind} (asked for {options['kind']})")
            run = retraining_run_now(kind=kind, user=user, on_progress=self._progress_bar())
        except DomainError as error:
            raise CommandError(error.message) from error
        finally:
            if self.bar is not None:
                self.bar.close()
        self._report(run)
        if run.status == RetrainingRun.Status.FAILED:
            raise CommandError(f"retraining failed: {run.error}")

    bar = None

    def _progress_bar(self):
        from tqdm import tqdm

        def update(fraction: float, message: str) -> None:
            if self.bar is None:
                self.bar = tqdm(total=1000, desc="retraining", file=sys.stderr, mininterval=2, leave=False)
            self.bar.n = int(round(fraction * 1000))
            self.bar.set_postfix_str(message, refresh=False)
            self.bar.refresh()

        return update

    def _report(self, run: RetrainingRun) -> None:
        seconds = (
            (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else 0
        )
        self.stdout.write(f"run {run.pk}: {run.get_status_display()} in {seconds:.0f} s")
        if run.new_version is not None:
            self.stdout.write(f"new version {run.new_version.name} (from {run.base_version.name})")
        evaluation = run.evaluation or {}
        champion, challenger = evaluation.get("champion"), evaluation.get("challenger")
        if champion and challenger:
            self.stdout.write(
                f"samples: {run.samples_trained} trained on, {run.samples_held_out} held out for the gate"
            )
            for key, label in (
                ("corrections_accuracy", "held-out samples"),
                ("base_accuracy", "base validation"),
            ):
                before, after = champion.get(key), challenger.get(key)
                if before is not None and after is not None:
                    self.stdout.write(
                        f"{label}: {before:.2%} -> {after:.2%} ({(after - before) * 100:+.2f} pp)"
                    )
            for key, label in (
                ("corrections_exact", "held-out samples, exact"),
                ("base_exact", "base, exact"),
            ):
                if champion.get(key) is not None and challenger.get(key) is not None:
                    self.stdout.write(f"{label}: {champion[key]:.2%} -> {challenger[key]:.2%}")
        self.stdout.write(
            f"verdict: {run.message if run.status != RetrainingRun.Status.FAILED else run.error}"
        )
