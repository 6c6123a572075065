"""Import a back office's keyed fields (a labels.tsv of IMAGE<TAB>TEXT) as whole-field training samples."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from recognition.engine.pages.templates import FIELD_KINDS
from recognition.exceptions import InvalidInput
from recognition.services.samples import samples_import_tsv


class Command(BaseCommand):
    help = (
        "Import field crops and their keyed texts as training samples of the sequence reader. Each line of "
        "LABELS.tsv is IMAGE<TAB>TEXT, IMAGE absolute or relative to the folder of LABELS.tsv. All in one "
        "transaction: one bad line (missing or unreadable image, a huge image, text outside the kind's "
        "alphabet) refuses the whole file, with the numbers of its bad lines."
    )

    def add_arguments(self, parser):
        parser.add_argument("labels", metavar="LABELS.tsv", type=Path)
        parser.add_argument("--kind", required=True, choices=FIELD_KINDS, help="the fields' kind")
        parser.add_argument(
            "--user", required=True, metavar="USERNAME", help="whom the samples are attributed to"
        )

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"no user {options['user']!r}")
        if not options["labels"].is_file():
            raise CommandError(f"{options['labels']}: no such file")
        try:
            samples = samples_import_tsv(labels_path=options["labels"], kind=options["kind"], user=user)
        except InvalidInput as error:
            raise CommandError(error.message) from error
        self.stdout.write(
            f"imported {len(samples)} {options['kind']} field samples for the sequence reader "
            f"(ids {samples[0].pk}-{samples[-1].pk}), attributed to {user.get_username()}"
        )
