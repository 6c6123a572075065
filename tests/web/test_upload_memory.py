"""Bounded memory: a real web server process takes a file of many huge frames without decoding them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from PIL import Image

from recognition.models import Page
from scripts.local_redis import free_port
from tests.conftest import REPO_ROOT, stop_process, worker_environment
from tests.helpers import wait_for
from tests.web.conftest import make_user, png_bytes

MEGABYTE = 1024 * 1024


def peak_memory(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM line")


def post_files(
    url: str, token: str, fields: dict[str, str], files: list[tuple[str, bytes]]
) -> tuple[int, dict]:
    """POST multipart/form-data with urllib (no HTTP client dependency), as an API client would."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields.items():
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for filename, data in files:
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
        )
        body.write(data + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(  # noqa: S310 - a local test server
        url,
        data=body.getvalue(),
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Authorization": f"Token {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - a local test server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def many_huge_frames() -> bytes:
    frame = Image.new("L", (6000, 6000), 255)
    buffer = io.BytesIO()
    frame.save(buffer, format="TIFF", save_all=True, append_images=[frame] * 19, compression="tiff_deflate")
    return buffer.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
@pytest.mark.django_db(transaction=True)
def test_the_web_process_stores_a_file_of_twenty_huge_frames_without_decoding_them(
    private_broker, media_root, model_dir, settings, tmp_path
):
    from rest_framework.authtoken.models import Token

    from recognition.services.templates import templates_seed_bundled

    template = next(template for template in templates_seed_bundled() if template.name == "check")
    token = Token.objects.create(user=make_user("scanner", "uploaders")).key
    port = free_port()
    env = worker_environment(broker_url=private_broker.url, media_root=media_root, model_dir=model_dir)
    log = (tmp_path / "web.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answering():
            try:
                with urllib.request.urlopen(f"{base}/health/", timeout=2):  # noqa: S310
                    return True
            except urllib.error.HTTPError:
                return True
            except OSError:
                return False

        wait_for(answering, timeout=60, interval=0.3, message="the web server to answer")
        # A first small upload loads everything an upload needs (image libraries, the stored file path).
        status, _ = post_files(
            f"{base}/api/documents/", token, {"template": str(template.pk)}, [("small.png", png_bytes())]
        )
        assert status == 201
        before = peak_memory(server.pid)

        data = many_huge_frames()
        status, document = post_files(
            f"{base}/api/documents/", token, {"template": str(template.pk)}, [("frames.tif", data)]
        )
        grown = peak_memory(server.pid) - before
    finally:
        stop_process(server)
        log.close()
    assert status == 201, document
    assert [page["number"] for page in document["pages"]] == list(range(1, 21))
    # Decoding the frames would take 720 MB; the file is a few hundred kilobytes.
    assert grown < 60 * MEGABYTE, f"the web process grew by {grown / MEGABYTE:.0f} MB"
    pages = Page.objects.filter(document_id=document["id"]).order_by("number")
    assert {page.source_file.name for page in pages} == {pages[0].source_file.name}
    assert [page.source_page for page in pages] == list(range(1, 21))
    assert Path(pages[0].source_file.path).read_bytes() == data
