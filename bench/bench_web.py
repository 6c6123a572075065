"""Web figures: upload-to-results for a one-page form with a warm worker, and the review screen's next field.

Runs on its own temporary database, media folder and Redis, with a real Celery worker process:
    .venv/bin/python bench/bench_web.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    arguments = parser.parse_args()

    from bench.isolated import isolated_site, start_worker

    work, redis = isolated_site("hwr-bench-web-")
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    from recognition.models import Document, FieldResult, FormTemplate
    from recognition.services.templates import templates_seed_bundled
    from tests.web.conftest import digits_template, filled_form, upload_file

    templates_seed_bundled()
    template = digits_template(FormTemplate.objects.get(name="sample_form"))
    form_png = filled_form(template)
    user = User.objects.create_superuser("bench", password="bench")  # noqa: S106 - throwaway database
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)

    worker = start_worker("pages,default")
    try:

        def upload_and_wait() -> float:
            started = time.perf_counter()
            response = client.post(
                reverse("api-document-list"),
                {"template": template.pk, "files": [upload_file("form.png", form_png)]},
            )
            document_id = response.json()["id"]
            while Document.objects.get(pk=document_id).status == Document.Status.PROCESSING:
                if time.perf_counter() - started > 180:
                    raise SystemExit("the worker did not read the page within 3 minutes")
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            document = Document.objects.get(pk=document_id)
            if document.status != Document.Status.DONE:
                raise SystemExit(f"the page was not read: {document.pages.get().error}")
            return elapsed

        warm_up = upload_and_wait()  # loads TensorFlow and the model in the worker
        timings = [upload_and_wait() for _ in range(arguments.rounds)]
        print(f"first page (cold worker): {warm_up:.2f} s")
        print(
            f"upload-to-results, warm worker, one-page form: median {statistics.median(timings):.3f} s, "
            f"max {max(timings):.3f} s over {len(timings)} uploads (target < 2 s)"
        )

        review_timings = []
        pending = list(FieldResult.objects.filter(review_state="pending").order_by("confidence", "pk"))
        for field in pending[: arguments.rounds * 2]:
            started = time.perf_counter()
            response = client.post(reverse("review-field", args=[field.pk]), {"action": "accept"})
            client.get(response["Location"])
            review_timings.append(time.perf_counter() - started)
        if review_timings:
            print(
                f"review: Enter to next field rendered (server side): median "
                f"{statistics.median(review_timings) * 1000:.1f} ms, max {max(review_timings) * 1000:.1f} ms "
                f"over {len(review_timings)} fields (target < 100 ms)"
            )
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        redis.stop()


if __name__ == "__main__":
    main()
