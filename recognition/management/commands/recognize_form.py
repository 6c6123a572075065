"""Read filled form pages against a template and print or write the results (hwr-form-result/1)."""

import datetime
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.engine.pages.align import AlignmentError
from recognition.engine.pages.load import load_pages
from recognition.engine.pages.templates import resolve_template


class Command(BaseCommand):
    help = (
        "Recognize the fields of filled form pages. With --out, writes DIR/<page file stem>.json per page; "
        "without, prints the JSON of a single page. A page that cannot be aligned is reported on stderr."
    )

    def add_arguments(self, parser):
        parser.add_argument("pages", nargs="+", metavar="PAGE", help="PNG, JPEG, TIFF or PDF files")
        parser.add_argument(
            "--template",
            required=True,
            help="template JSON (hwr-form-template/1), or a bundled template's name: check, sample_form, "
            "cheque-cts2010",
        )
        parser.add_argument(
            "--today",
            type=datetime.date.fromisoformat,
            help="cheques: the day they are presented, YYYY-MM-DD, for the date's validity window "
            "(default: the day they are read)",
        )
        parser.add_argument("--out", help="folder for one result JSON per page")
        parser.add_argument(
            "--json", action="store_true", help="accepted for compatibility: output is JSON anyway"
        )

    def handle(self, *args, **options):
        pages = [Path(page) for page in options["pages"]]
        out_dir = Path(options["out"]) if options["out"] else None
        if out_dir is None and len(pages) > 1:
            raise CommandError("several pages need --out DIR (without it, one page is printed)")
        try:
            template = resolve_template(options["template"])
        except ValueError as error:
            raise CommandError(f"bad template: {error}") from error
        from recognition.engine.fields.reader import FormReader  # keeps Keras out of `manage.py help`

        reader = FormReader(settings.MODEL_DIR, today=options["today"])  # models load once, on the first page
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        failures = 0
        for path in pages:
            try:
                images = load_pages(path)
            except ValueError as error:
                self.stderr.write(f"{path}: cannot load: {error}")
                failures += 1
                continue
            for number, image in enumerate(images, start=1):
                # A multi-page file gives <stem>.json for its first page, <stem>-p2.json and on for the rest.
                stem = path.stem if number == 1 else f"{path.stem}-p{number}"
                try:
                    result = reader.read_page(template, image).result
                except AlignmentError as error:
                    self.stderr.write(f"{path} page {number}: not aligned (score {error.score:.2f}): {error}")
                    failures += 1
                    continue
                except ValueError as error:
                    self.stderr.write(f"{path} page {number}: {error}")
                    failures += 1
                    continue
                text = json.dumps(result, indent=2, ensure_ascii=False)
                if out_dir is None:
                    self.stdout.write(text)
                else:
                    (out_dir / f"{stem}.json").write_text(text + "\n", encoding="utf-8")
                    self.stdout.write(f"{path} page {number} -> {out_dir / f'{stem}.json'}")
        if failures:
            raise CommandError(f"{failures} page(s) could not be read")
