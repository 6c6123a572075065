"""Classify every image of an MNIST-style IDX file and print `LABEL CONFIDENCE` per image."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.engine.characters import datasets
from recognition.engine.characters.classify import KINDS, load_classifier

# Images are read and classified in chunks so a large file does not need all its inputs at once.
CHUNK = 4096


class Command(BaseCommand):
    help = "Classify an IDX image file (gzipped or not, white ink on black as MNIST); one line per image."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--kind", choices=KINDS, required=True)
        parser.add_argument("--model-version", default=None, help="model version (default: the active one)")

    def handle(self, *args, **options):
        path: Path = options["file"]
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        try:
            images = datasets.read_idx(path)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3:
            raise CommandError(f"{path} holds an array of shape {images.shape}, not a stack of 2-D images")
        try:
            classifier = load_classifier(options["kind"], Path(settings.MODEL_DIR), options["model_version"])
        except FileNotFoundError as error:
            raise CommandError(str(error)) from error
        for start in range(0, len(images), CHUNK):
            predictions = classifier.classify(list(images[start : start + CHUNK]))
            self.stdout.write("\n".join(f"{item.label} {item.confidence:.4f}" for item in predictions))
