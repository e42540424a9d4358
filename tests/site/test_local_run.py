"""The README run command, for real: a clean var/, no Redis at REDIS_URL, a browser login,
Ctrl-C stops everything, and a second run keeps the data."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import redis
from rq import Worker

from acousticsense_site.localredis import free_port, port_is_free, redis_reachable

ROOT = Path(__file__).resolve().parents[2]
SHARED_AUDIO = Path(os.environ.get("ACOUSTICSENSE_SHARED_DIR", ROOT.parent / "shared")) / "audio"
pytestmark = [pytest.mark.slow, pytest.mark.browser]


def start(env: dict[str, str]) -> tuple[subprocess.Popen, dict[str, str], list[str]]:
    """Start scripts/run.sh and read its output until it prints the URL and login."""
    process = subprocess.Popen(
        ["./scripts/run.sh"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    found: dict[str, str] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and "password" not in found:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if match := re.search(r"running at (http://\S+)", line):
            found["url"] = match.group(1)
        if match := re.search(r"Username: (\S+)", line):
            found["username"] = match.group(1)
        if match := re.search(r"Password: (\S+)", line):
            found["password"] = match.group(1)
    assert {"url", "username", "password"} <= set(found), "\n".join(lines)
    return process, found, lines


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    output, _ = process.communicate(timeout=60)
    return output


def _proposals(page, login: dict[str, str]) -> str:
    page.goto(login["url"] + "catalog/track/")
    return " ".join(page.locator("td.field-proposal").all_inner_texts())


def log_in(page, login: dict[str, str]) -> None:
    page.context.clear_cookies()  # a new visitor each time, not the session of an earlier run
    page.goto(login["url"])
    page.fill("#id_username", login["username"])
    page.fill("#id_password", login["password"])
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_run_command_serves_the_admin_and_ctrl_c_stops_everything(tmp_path, browser, artifacts_dir):
    web_port, redis_port = free_port(), free_port()
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(ACOUSTICSENSE_VAR_DIR=str(tmp_path / "var"), REDIS_URL=redis_url, PORT=str(web_port))
    assert not redis_reachable(redis_url)

    process, login, _ = start(env)
    try:
        assert login["url"] == f"http://127.0.0.1:{web_port}/admin/"
        assert redis_reachable(redis_url), "the run command should start a Redis it owns"
        connection = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 90  # the worker loads and warms its model before it registers
        while not Worker.all(connection=connection) and time.monotonic() < deadline:
            time.sleep(0.5)
        workers = Worker.all(connection=connection)
        assert len(workers) == 1 and set(workers[0].queue_names()) == {"inference", "default"}

        log_in(browser, login)
        browser.goto(login["url"] + "catalog/genre/")
        assert browser.locator("#result_list tbody tr").count() == 16
        browser.goto(login["url"] + "catalog/track/")
        assert "Select track to change" in browser.content()
        browser.screenshot(path=str(artifacts_dir / "admin-track-list.png"), full_page=True)
        browser.goto(login["url"] + "catalog/modelversion/")
        assert "starter-vit-tiny-v2" in browser.content()  # the bundled, trained starter model
        brahms = SHARED_AUDIO / "brahms-hungarian-dance-5.ogg"
        if brahms.is_file():  # real predictions straight away: a classical recording is called Classical
            browser.goto(login["url"] + "catalog/track/upload/")
            browser.set_input_files("input[type=file]", str(brahms))
            browser.click("input[type=submit]")
            deadline = time.monotonic() + 90
            while "Classical" not in _proposals(browser, login) and time.monotonic() < deadline:
                time.sleep(1)
            proposals = _proposals(browser, login)
            assert "Classical" in proposals and "(untrained)" not in proposals
    finally:
        output = stop(process)
    assert process.returncode == 0, output
    assert "Stopped worker" in output and "Stopped redis" in output
    assert port_is_free(web_port) and not redis_reachable(redis_url)

    database = tmp_path / "var" / "acousticsense.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE catalog_genre SET description = 'kept across runs' WHERE name = 'World'")

    process, second_login, _ = start(env)
    try:
        assert second_login["password"] == login["password"]
        log_in(browser, second_login)
        browser.goto(second_login["url"] + "catalog/genre/?q=World")
        browser.click("text=World")
        assert browser.input_value("#id_description") == "kept across runs"
    finally:
        stop(process)
    assert process.returncode == 0
