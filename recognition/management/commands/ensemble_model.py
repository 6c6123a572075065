"""Combine trained versions of one kind into an averaging ensemble, written as a new version."""

import shlex
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.engine.characters.classify import KINDS, model_versions


class Command(BaseCommand):
    help = (
        "Average the outputs of two or more versions of a kind in one model (models/<kind>/<next>/). "
        "The members must share their validation split, so the ensemble is judged on data none trained on."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=KINDS, required=True)
        parser.add_argument("--members", required=True, help="comma-separated versions, e.g. 2,6")
        parser.add_argument("--activate", action="store_true", help="make the new version the active one")
        parser.add_argument("--mnist-dir", type=Path, default=None)
        parser.add_argument("--femnist-dir", type=Path, default=None)

    def handle(self, *args, **options):
        import json

        import keras

        from recognition.engine.characters.networks import build_ensemble
        from recognition.engine.learning import train
        from recognition.engine.learning.versions import next_version, write_version

        kind = options["kind"]
        kind_dir = Path(settings.MODEL_DIR) / kind
        versions = [version.strip() for version in options["members"].split(",") if version.strip()]
        if len(versions) < 2 or len(set(versions)) != len(versions):
            raise CommandError("give at least two different member versions, e.g. --members 2,6")
        available = model_versions(kind_dir)
        missing = [version for version in versions if version not in available]
        if missing:
            raise CommandError(
                f"no {kind} version {', '.join(missing)} with weights "
                f"(available: {', '.join(available) or 'none'})"
            )
        try:
            cards = [json.loads((kind_dir / version / "card.json").read_text()) for version in versions]
        except (OSError, ValueError) as error:
            raise CommandError(f"a member's card.json cannot be read: {error}") from error
        split_seeds = {card.get("data", {}).get("femnist_writers", {}).get("split_seed", 0) for card in cards}
        if len(split_seeds) != 1:
            raise CommandError(
                f"members were validated on different splits (split seeds {sorted(split_seeds)}); "
                "an ensemble of them has no held-out data to be judged on"
            )
        split_seed = split_seeds.pop()
        mnist_dir = options["mnist_dir"] or Path(settings.DATA_DIR) / "mnist"
        femnist_dir = options["femnist_dir"] or Path(settings.FEMNIST_DIR)
        data = train.assemble_data(
            kind,
            mnist_dir if kind != "letters" else None,
            femnist_dir if femnist_dir.exists() else None,
            split_seed=split_seed,
        )
        members = [
            keras.models.load_model(kind_dir / version / "model.keras", compile=False) for version in versions
        ]
        model = build_ensemble(members, name=f"{kind}_ensemble")
        for version, member in zip(versions, members, strict=True):
            member_report = train.evaluate(member, data)
            self.stdout.write(f"  {kind}@{version}: validation accuracy {member_report['accuracy']:.4f}")
        report = train.evaluate(model, data)
        version = next_version(kind_dir)
        command = "python manage.py ensemble_model " + " ".join(
            shlex.quote(word) for word in ("--kind", kind, "--members", ",".join(versions))
        )
        write_version(
            model,
            data,
            report,
            {},
            kind,
            kind_dir / version,
            {
                "architecture": "average of "
                + " + ".join(
                    f"{kind}@{member} ({card.get('architecture', '')})"
                    for member, card in zip(versions, cards, strict=True)
                ),
                "members": versions,
                "options": cards[0].get("options", {}),
                "member_options": [card.get("options", {}) for card in cards],
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command,
            },
        )
        if options["activate"]:
            (kind_dir / "ACTIVE").write_text(version + "\n")
            self.stdout.write(f"{kind}@{version} is now active")
        self.stdout.write(
            self.style.SUCCESS(
                f"{kind}@{version}: validation accuracy {report['accuracy']:.4f}, "
                f"macro F1 {report['macro_f1']:.4f} -> {kind_dir / version}"
            )
        )
        for name, group in report["groups"].items():
            self.stdout.write(f"  {name}: {group['accuracy']:.4f} on {group['count']}")
