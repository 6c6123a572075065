"""Read single field images (one field cropped from a page) and print TEXT<TAB>CONFIDENCE per image."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.engine.fields.comb import locate_comb_box
from recognition.engine.pages.load import load_page
from recognition.engine.pages.templates import FIELD_KINDS, FieldSpec


class Command(BaseCommand):
    help = (
        "Recognize field images (dark ink on light paper, box lines allowed). Prints one line per image, "
        "in order: TEXT<TAB>CONFIDENCE. --cells N reads a comb of N boxes; without it, free writing."
    )

    def add_arguments(self, parser):
        parser.add_argument("images", nargs="+", metavar="IMAGE")
        parser.add_argument("--kind", required=True, choices=FIELD_KINDS)
        parser.add_argument("--cells", type=int, default=None, help="number of boxes of a comb field")

    def handle(self, *args, **options):
        cells = options["cells"]
        if cells is not None and cells < 1:
            raise CommandError("--cells must be at least 1")
        from recognition.engine.fields.reader import FormReader

        reader = FormReader(settings.MODEL_DIR)
        failures = 0
        for path in options["images"]:
            try:
                image = load_page(Path(path))
                height, width = image.shape
                # A comb is read against its printed boxes, wherever they sit in the crop.
                box = locate_comb_box(image, cells) if cells else (0, 0, width, height)
                spec = FieldSpec(name=Path(path).stem, kind=options["kind"], box=box, cells=cells)
                results, _ = reader.read_fields(image, [spec])
            except ValueError as error:
                # Keep one line per image so the output stays aligned with the arguments.
                self.stderr.write(f"{path}: {error}")
                self.stdout.write("\t0.000")
                failures += 1
                continue
            field = results[0]
            self.stdout.write(f"{field['text']}\t{field['confidence']:.3f}")
        if failures:
            raise CommandError(f"{failures} image(s) could not be read")
