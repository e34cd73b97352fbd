"""A non-editable install works from any directory and carries its commands and templates."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the built wheel; dependencies come from this test's environment."""
    work = tmp_path_factory.mktemp("install")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(work / "dist"), str(ROOT)],
        check=True,
        cwd=work,
    )
    wheel = next((work / "dist").glob("chatbridge-*.whl"))
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies: this environment's site-packages as a plain path entry (its .pth files, such as the
    # editable finder of the source tree, are not processed), so only the wheel provides chatbridge.
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def run(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBRIDGE_")}
    env["CHATBRIDGE_DATABASE_URL"] = f"sqlite:///{cwd / 'store.db'}"
    return subprocess.run(
        [str(env_dir / "bin" / "chatbridge"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_wheel_has_no_generic_top_level_names(installed: Path) -> None:
    purelib = next(installed.glob("lib/python*/site-packages"))
    assert not (purelib / "commands").exists() and not (purelib / "templates").exists()
    assert (purelib / "chatbridge" / "commands" / "threads.py").is_file()
    assert (purelib / "chatbridge" / "templates" / "profile" / "card.md.j2").is_file()
    assert (purelib / "chatbridge" / "store" / "migrations" / "env.py").is_file()


def test_help_upgrade_and_console_work_from_any_directory(installed: Path, tmp_path: Path) -> None:
    assert "console" in run(installed, "--help", cwd=tmp_path).stdout
    upgraded = run(installed, "db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    script = tmp_path / "demo.txt"
    script.write_text('alice: !thread new "Hello" First post\nbob: Welcome!\nalice: !profile bob\n')
    console = run(installed, "console", "--script", str(script), cwd=tmp_path)
    assert console.returncode == 0, console.stderr
    assert "Thread #1 **Hello** started in General Discussion" in console.stdout
    assert "**bob** · New Member" in console.stdout


def test_every_package_directory_is_listed_for_the_wheel() -> None:
    """A package missing from [tool.setuptools] packages is silently left out of the wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "chatbridge").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert found <= listed, sorted(found - listed)
