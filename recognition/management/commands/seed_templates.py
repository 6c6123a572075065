"""Load the bundled form templates (and the models on disk) into the database; safe to run again."""

from django.core.management.base import BaseCommand

from recognition.services.models import model_versions_sync
from recognition.services.templates import templates_seed_bundled


class Command(BaseCommand):
    help = "Load the bundled templates from recognition/forms_data and register models from MODEL_DIR."

    def handle(self, *args, **options) -> None:
        templates = templates_seed_bundled()
        for template in templates:
            self.stdout.write(f"template {template.name} ({template.kind}, {len(template.fields)} fields)")
        versions = model_versions_sync()
        for version in versions:
            self.stdout.write(f"model {version.kind}@{version.version} ({version.status})")
        self.stdout.write(self.style.SUCCESS(f"{len(templates)} templates, {len(versions)} model versions"))
