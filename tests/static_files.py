"""Collect static files before the suite when they changed: pages and live servers need them.

With the manifest storage (config/storages.py), `{% static %}` names a hashed file from
STATIC_ROOT/staticfiles.json, so a page rendered before `collectstatic` fails. `make test` runs
collectstatic; this covers a plain `pytest` run after a static file was edited. A file lock
keeps concurrent runs on one checkout from collecting into the same folder at once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def collected_is_current(static_root: Path, sources: list[Path]) -> bool:
    manifest = static_root / "staticfiles.json"
    if not manifest.is_file():
        return False
    built = manifest.stat().st_mtime
    for source in sources:
        if source.is_file():  # a module that shapes the collected files
            if source.stat().st_mtime > built:
                return False
            continue
        for folder, _, files in os.walk(source):
            if any(Path(folder, name).stat().st_mtime > built for name in files):
                return False
    return True


def static_collect(*, static_root: Path, sources: list[Path]) -> None:
    """Run `manage.py collectstatic` (test settings) unless STATIC_ROOT is newer than `sources`."""
    lock_path = ROOT / "var" / "collectstatic.lock"
    lock_path.parent.mkdir(exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if collected_is_current(static_root, sources):
            return
        result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"collectstatic failed:\n{result.stdout}\n{result.stderr}")
