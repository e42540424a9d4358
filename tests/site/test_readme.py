"""README.md's two commands are the ones CI and the run script actually use."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def command_after(marker: str) -> str:
    """The single command in the fenced block that follows an HTML comment marker."""
    match = re.search(rf"<!-- {marker} -->\s*```(?:bash|sh)?\n(.+?)\n```", README, re.S)
    assert match, f"README.md has no command block after <!-- {marker} -->"
    lines = [line for line in match.group(1).splitlines() if line.strip()]
    assert len(lines) == 1, f"the {marker} block should hold exactly one command: {lines}"
    return lines[0].strip()


def test_the_readme_test_command_is_exactly_what_ci_runs():
    test_command = command_after("test-command")
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert ci_lines[-1] == test_command
    assert "pytest" in (ROOT / test_command.split()[0]).read_text()


def test_the_readme_run_command_starts_the_devserver():
    run_command = command_after("run-command")
    script = (ROOT / run_command.split()[0]).read_text()
    assert "scripts/setup.sh" in script and "scripts/devserver.py" in script
    assert (ROOT / "scripts" / "devserver.py").exists()


def test_the_readme_names_every_setting_a_deployer_can_change():
    from tests.site.test_deployment_files import settings_env_names

    missing = {name for name in settings_env_names() if f"`{name}`" not in README}
    assert not missing, f"README.md does not document: {sorted(missing)}"
