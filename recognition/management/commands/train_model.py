"""Train a character CNN, the pair reader or the sequence reader as a new version under MODEL_DIR."""

import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.engine.characters.classify import KINDS, model_versions, resolve_version
from recognition.engine.characters.pairs import PAIR_KIND
from recognition.engine.learning import train, versions

# The pair reader of free digit fields is trained here too; it is not a kind fields are read with.
# "sequence" is the whole-field reader of free fields (engine/sequences).
SEQUENCE_KIND = "sequence"
TRAINABLE_KINDS = (*KINDS, PAIR_KIND, SEQUENCE_KIND)
# Options whose default depends on the kind: (character models, sequence reader).
KIND_DEFAULTS = {"batch_size": (128, 32), "learning_rate": (2e-3, 1e-3), "patience": (6, 3)}
# Share of the pair reader's training images that are touching pairs when --touching-pairs is not given.
DEFAULT_PAIR_SHARE = 0.4


class Command(BaseCommand):
    help = (
        "Train a character CNN, the pair reader or the sequence reader (--kind sequence) and write "
        "models/<kind>/<next version>/ (model, card, plots)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=TRAINABLE_KINDS, required=True)
        parser.add_argument("--epochs", type=int, default=20)
        parser.add_argument(
            "--from",
            dest="from_version",
            default=None,
            help="start from VERSION of this kind, or KIND@VERSION (e.g. digits@2) to transfer weights",
        )
        parser.add_argument("--activate", action="store_true", help="make the new version the active one")
        parser.add_argument("--batch-size", type=int, default=None, help="default 128 (sequence: 32)")
        parser.add_argument("--learning-rate", type=float, default=None, help="default 2e-3 (sequence: 1e-3)")
        parser.add_argument("--width", type=int, default=16, help="channels of the first block")
        parser.add_argument(
            "--patience",
            type=int,
            default=None,
            help="early stopping patience in epochs, default 6 (sequence: epochs without progress before "
            "the learning rate falls, default 3)",
        )
        parser.add_argument("--steps-per-epoch", type=int, default=None)
        parser.add_argument("--balance", type=float, default=None, help="class balancing power 0..1")
        parser.add_argument("--no-augment", action="store_true")
        self._add_augmentation_arguments(parser)
        self._add_data_arguments(parser)

    def _add_augmentation_arguments(self, parser):
        """The shares of training images that augmentation changes, and how."""
        parser.add_argument(
            "--form-artifacts",
            type=float,
            default=0.0,
            help="share of training images with box-rule damage or a neighbour's stroke (0..1)",
        )
        parser.add_argument(
            "--elastic",
            type=float,
            default=0.0,
            help="share of training images bent by a smooth random displacement field (0..1)",
        )
        parser.add_argument(
            "--scan-blur",
            type=float,
            default=0.0,
            help="share of training images given solid strokes and a scanner's blur (0..1)",
        )
        parser.add_argument(
            "--stroke-change",
            type=float,
            default=0.3,
            help="share of training images with thinner or bolder strokes, half each (0..1)",
        )
        parser.add_argument(
            "--touching-pairs",
            type=float,
            default=None,
            help="share of training images replaced by two touching characters (0..1): with no right class, "
            f"or with the pair's own class for {PAIR_KIND} (default {DEFAULT_PAIR_SHARE} there, else 0)",
        )
        parser.add_argument(
            "--fragments",
            type=float,
            default=0.0,
            help="share of training images replaced by one side of a wide character cut in two, with no "
            "right class (0..1): what cutting a free field through a U or an M hands the classifier",
        )
        parser.add_argument(
            "--fragment-classes",
            default="",
            help="with --fragments, cut only these classes (e.g. AHKMNUVWXY: letters neither side of which "
            "looks like the letter); default all",
        )

    def _add_data_arguments(self, parser):
        """Where the training data comes from, how much of it is used, and the seeds."""
        parser.add_argument(
            "--form-crops",
            type=Path,
            default=None,
            help="add character images cut out of comb boxes (bench/make_form_crops.py .npz) to training",
        )
        parser.add_argument(
            "--no-lookalikes", action="store_true", help="letters: skip lower-case lookalikes"
        )
        parser.add_argument(
            "--synthetic", type=int, default=None, help="letters/alnum: font renderings per font and letter"
        )
        parser.add_argument("--limit", type=int, default=None, help="use only the first N MNIST images")
        parser.add_argument("--seed", type=int, default=0, help="initialisation, shuffling and augmentation")
        parser.add_argument(
            "--split-seed",
            type=int,
            default=None,
            help="validation split (writers, MNIST hold-out); default: --seed. Keep it fixed to compare runs",
        )
        parser.add_argument("--mnist-dir", type=Path, default=None)
        parser.add_argument("--femnist-dir", type=Path, default=None)
        parser.add_argument(
            "--data-root",
            type=Path,
            default=None,
            help="sequence: the folder of names-dev, words-dhsd, amounts-dev and femnist-dev "
            "(default ../shared/data)",
        )
        parser.add_argument(
            "--time-budget",
            type=float,
            default=None,
            help="sequence: stop after the epoch that passes N seconds",
        )

    def handle(self, *args, **options):
        kind = options["kind"]
        for option, defaults in KIND_DEFAULTS.items():
            if options[option] is None:
                options[option] = defaults[kind == SEQUENCE_KIND]
        if kind == SEQUENCE_KIND:
            self._train_sequence(options)
            return
        self._check_options(kind, options)
        model_dir = Path(settings.MODEL_DIR)
        mnist_dir, femnist_dir = self._data_dirs(kind, options)
        initial_model, from_name = self._initial_model(kind, model_dir, options["from_version"])
        data = self._training_data(kind, options, mnist_dir, femnist_dir)
        training_options = self._training_options(kind, options)
        on_batch, on_epoch = self._progress_reporters()
        model, history, seconds, transferred = train.fit(
            data, training_options, initial_model, on_batch, on_epoch
        )
        report = train.evaluate(model, data)
        kind_dir = model_dir / kind
        version = versions.next_version(kind_dir)
        command = self._command_line(options)
        card = versions.write_version(
            model,
            data,
            report,
            history,
            kind,
            kind_dir / version,
            {
                "architecture": f"{training_options.architecture} width {training_options.width}",
                "options": training_options.__dict__,
                "from": from_name,
                "transferred_layers": len(transferred),
                "train_seconds": round(seconds, 1),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command,
            },
        )
        active_file = kind_dir / "ACTIVE"
        if options["activate"] or not active_file.exists():
            active_file.write_text(version + "\n")
            self.stdout.write(f"{kind}@{version} is now active")
        self._report(kind, version, kind_dir, card, history, seconds)

    def _train_sequence(self, options: dict) -> None:
        """Train, calibrate and write a sequence reader version; a progress bar per epoch."""
        from tqdm import tqdm

        from recognition.engine.sequences.training import TrainingConfig, train_version

        data_root = options["data_root"] or Path(settings.BASE_DIR).parent / "shared" / "data"
        if not data_root.is_dir():
            raise CommandError(f"{data_root} not found: give --data-root, the folder of the real field sets")
        mnist_dir = options["mnist_dir"] or Path(settings.DATA_DIR) / "mnist"
        config = TrainingConfig(
            data_root=data_root,
            mnist_dir=mnist_dir,
            femnist_dir=options["femnist_dir"] or data_root / "femnist-dev",
            batch_size=options["batch_size"],
            steps_per_epoch=options["steps_per_epoch"] or 250,
            max_epochs=options["epochs"],
            time_budget_s=options["time_budget"] or float("inf"),
            learning_rate=options["learning_rate"],
            patience=options["patience"],
            seed=options["seed"],
        )
        bar = None

        def on_step(step, steps, loss):
            nonlocal bar
            if bar is None:
                bar = tqdm(total=steps, desc="training", file=sys.stderr, leave=False, mininterval=5)
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            if step == steps:
                bar.close()
                bar = None

        started = time.time()
        try:
            version, card = train_version(
                Path(settings.MODEL_DIR),
                config,
                from_version=options["from_version"],
                activate=options["activate"],
                progress=lambda line: self.stdout.write(line),
                on_step=on_step,
                command=self._command_line(options),
            )
        except (FileNotFoundError, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"sequence@{version} in {time.time() - started:.0f} s"))
        for name, figures in card["validation"].items():
            self.stdout.write(
                f"  {name}: character accuracy {figures['character_accuracy']:.2%}, "
                f"exact {figures['exact']:.2%}, auto-accepted {figures['auto_accepted']:.2%} "
                f"({figures['wrong_among_accepted']} wrong)"
            )

    def _check_options(self, kind: str, options: dict) -> None:
        """Refuse option values the run cannot use; fills in the default share of touching pairs."""
        if options["touching_pairs"] is None:
            options["touching_pairs"] = DEFAULT_PAIR_SHARE if kind == PAIR_KIND else 0.0
        if kind == PAIR_KIND and options["touching_pairs"] <= 0:
            raise CommandError(f"{PAIR_KIND} learns from touching pairs: --touching-pairs must be above 0")
        if kind == PAIR_KIND and options["fragments"] > 0:
            raise CommandError(f"--fragments have no class in {PAIR_KIND}; leave it at 0 there")
        shares = ("form_artifacts", "elastic", "scan_blur", "stroke_change", "touching_pairs", "fragments")
        for name in shares:
            if not 0.0 <= options[name] <= 1.0:
                flag = "--" + name.replace("_", "-")
                raise CommandError(f"{flag} is a share of images, 0..1, not {options[name]}")
        unknown = sorted(set(options["fragment_classes"]) - set(train.KIND_CLASSES[kind]))
        if unknown:
            raise CommandError(f"--fragment-classes: {kind} has no class {', '.join(unknown)}")
        if options["form_crops"] and not Path(options["form_crops"]).is_file():
            raise CommandError(f"no form crops file at {options['form_crops']} (bench/make_form_crops.py)")

    def _data_dirs(self, kind: str, options: dict) -> tuple[Path, Path | None]:
        """The MNIST folder and the femnist-dev folder (None when it is not there and not needed)."""
        mnist_dir = options["mnist_dir"] or Path(settings.DATA_DIR) / "mnist"
        femnist_dir = options["femnist_dir"] or Path(settings.FEMNIST_DIR)
        mnist_present = any(
            (mnist_dir / name).exists() for name in ("train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz")
        )
        if kind in train.DIGIT_DATA_KINDS and not mnist_present:
            raise CommandError(f"MNIST is not in {mnist_dir}; run `python manage.py fetch_data mnist` first")
        if not femnist_dir.exists():
            self.stderr.write(f"femnist-dev not found at {femnist_dir}; training without it")
            femnist_dir = None
        if kind == "letters" and femnist_dir is None:
            raise CommandError("letters need femnist-dev (../shared/data/femnist-dev)")
        return mnist_dir, femnist_dir

    def _training_data(
        self, kind: str, options: dict, mnist_dir: Path, femnist_dir: Path | None
    ) -> train.TrainingData:
        """The training and validation data, with the form crops added when asked for."""
        self.stdout.write(f"Preparing {kind} data ...")
        data = train.assemble_data(
            kind,
            mnist_dir if kind != "letters" else None,
            femnist_dir,
            use_lookalikes=not options["no_lookalikes"],
            seed=options["seed"],
            split_seed=options["split_seed"],
            limit=options["limit"],
            synthetic_variants=options["synthetic"] if options["synthetic"] is not None else 6,
        )
        if options["form_crops"]:
            try:
                added = train.add_form_crops(data, options["form_crops"])
            except ValueError as error:
                raise CommandError(str(error)) from error
            self.stdout.write(f"  + {added} form crops from {options['form_crops']}")
        self.stdout.write(f"  train {len(data.train_labels)}, validation {len(data.validation_labels)}")
        return data

    def _training_options(self, kind: str, options: dict) -> train.TrainingOptions:
        """The options of train.fit, from the command's."""
        balance = options["balance"]
        if balance is None:
            # Digits from MNIST outnumber femnist letters about 30 to 1; half-way balancing evens that out.
            balance = 0.5 if kind == "alnum" else 0.0
        return train.TrainingOptions(
            epochs=options["epochs"],
            batch_size=options["batch_size"],
            learning_rate=options["learning_rate"],
            patience=options["patience"],
            width=options["width"],
            augment=not options["no_augment"],
            balance_power=balance,
            steps_per_epoch=options["steps_per_epoch"],
            artifact_probability=options["form_artifacts"],
            elastic_probability=options["elastic"],
            stroke_change_probability=options["stroke_change"],
            pair_probability=options["touching_pairs"],
            scan_probability=options["scan_blur"],
            fragment_probability=options["fragments"],
            fragment_classes=options["fragment_classes"],
            seed=options["seed"],
        )

    def _progress_reporters(self):
        """train.fit's on_batch (a progress bar on stderr) and on_epoch (a line per epoch on stdout)."""
        from tqdm import tqdm

        bar = None
        epoch_state = {"epoch": 1}

        def on_batch(step, steps, logs):
            nonlocal bar
            if bar is None:
                bar = tqdm(
                    total=steps,
                    desc=f"epoch {epoch_state['epoch']}",
                    file=sys.stderr,
                    leave=False,
                    mininterval=5,
                )
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{logs.get('loss', 0):.4f}", accuracy=f"{logs.get('accuracy', 0):.4f}")

        def on_epoch(epoch, logs):
            nonlocal bar
            if bar is not None:
                bar.close()
                bar = None
            epoch_state["epoch"] = epoch + 1
            self.stdout.write(
                f"epoch {epoch}: loss {logs.get('loss', 0):.4f} accuracy {logs.get('accuracy', 0):.4f} "
                f"val_loss {logs.get('val_loss', 0):.4f} val_accuracy {logs.get('val_accuracy', 0):.4f}"
            )
            self.stdout.flush()

        return on_batch, on_epoch

    def _report(self, kind: str, version: str, kind_dir: Path, card: dict, history: dict, seconds: float):
        """Print the new version's validation metrics."""
        metrics = card["metrics"]["validation"]
        self.stdout.write(
            self.style.SUCCESS(
                f"{kind}@{version}: validation accuracy {metrics['accuracy']:.4f}, "
                f"macro F1 {metrics['macro_f1']:.4f} "
                f"({len(history.get('loss', []))} epochs, {seconds:.0f} s) -> {kind_dir / version}"
            )
        )
        for name, group in metrics["groups"].items():
            self.stdout.write(f"  {name}: {group['accuracy']:.4f} on {group['count']}")
        detection = metrics.get("pair_detection")
        if detection:
            self.stdout.write(
                f"  at {detection['threshold']}: single digits taken for pairs "
                f"{detection['singles_taken_for_pairs']:.4%}, pairs found {detection['pairs_found']:.2%}"
            )

    def _command_line(self, options) -> str:
        """The command that reproduces this run, from the options received (sys.argv may be pytest's)."""
        parser = self.create_parser("manage.py", "train_model")
        skipped = {"help", "verbosity", "settings", "pythonpath", "traceback", "no_color", "force_color"}
        words = ["python", "manage.py", "train_model"]
        for action in parser._actions:
            if not action.option_strings or action.dest in skipped or action.dest not in options:
                continue
            value = options[action.dest]
            if value is None or value is False or value == action.default or action.dest == "skip_checks":
                continue
            flag = action.option_strings[-1]
            words.extend([flag] if value is True else [flag, str(value)])
        return " ".join(shlex.quote(word) for word in words)

    def _initial_model(self, kind, model_dir, from_version):
        if not from_version:
            return None, None
        import keras

        source_kind, _, version = from_version.rpartition("@")
        source_kind = source_kind or kind
        if source_kind not in KINDS:
            raise CommandError(f"unknown kind in --from {from_version!r}")
        try:
            version = resolve_version(source_kind, model_dir, version or None)
        except FileNotFoundError as error:
            available = ", ".join(model_versions(model_dir / source_kind)) or "none"
            raise CommandError(f"{error} (available {source_kind} versions: {available})") from error
        started = time.monotonic()
        model = keras.models.load_model(model_dir / source_kind / version / "model.keras", compile=False)
        self.stdout.write(
            f"Starting from {source_kind}@{version} ({time.monotonic() - started:.1f} s to load)"
        )
        return model, f"{source_kind}@{version}"
