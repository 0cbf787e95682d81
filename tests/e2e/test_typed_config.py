"""A dataset marked `public = "false"` (text, not a boolean) is never served anonymously.

Before typed settings the text was truthy and the dataset went to anyone; now the daemon,
started as an administrator starts it, refuses to run and says which line is wrong.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import tomlkit

from node.core.config import CONFIG_FILE
from tests.e2e.conftest import Federation
from tests.nodes import TestNode

CHECKLIST = "gxib-karst-checklist"


def _set_public(node: TestNode, value: object) -> str:
    """Write `public = <value>` on the checklist's [[datasets]] block; the new file text."""
    path = node.home / CONFIG_FILE
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    for entry in document["datasets"]:  # type: ignore[union-attr]
        if entry["id"] == CHECKLIST:
            entry["public"] = value
    text = tomlkit.dumps(document)
    path.write_text(text, encoding="utf-8")
    return text


def _anonymous_get(url: str) -> int | str:
    """HTTP status of an unsigned GET, or why no answer came."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return f"no answer ({exc.__class__.__name__})"


def _serve(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "node", "serve", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_until_up_or_exited(daemon: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and daemon.poll() is None:
        if _anonymous_get(f"{url}/health") == 200:
            return
        time.sleep(0.2)


def test_public_as_text_stops_the_daemon_and_nothing_is_served(federation: Federation) -> None:
    node = federation.gxib
    archive = f"{node.url}/datasets/{CHECKLIST}/archive"

    # Control: with a real boolean the same daemon serves the checklist to anyone, so the
    # probe below can tell "served" from "not served".
    _set_public(node, True)
    daemon = _serve(node.home)
    try:
        _wait_until_up_or_exited(daemon, node.url)
        assert _anonymous_get(archive) == 200
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)

    text = _set_public(node, "false")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row == 'public = "false"')
    daemon = _serve(node.home)
    try:
        _wait_until_up_or_exited(daemon, node.url)
        status = _anonymous_get(archive)
        exit_code = daemon.wait(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=30)
    stderr = daemon.stderr.read() if daemon.stderr else ""
    assert exit_code == 1
    assert isinstance(status, str) and status.startswith("no answer"), status
    assert f"{node.home / CONFIG_FILE} line {line}: datasets#" in stderr
    assert "public: expected a boolean: true or false, without quotes, got the text 'false'" in (
        stderr
    )
