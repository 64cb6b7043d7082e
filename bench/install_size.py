"""How big a fresh virtualenv is: build one with the Makefile's own targets, print its sizes.

    python bench/install_size.py                   # the site's packages only (`make install-site`:
                                                   # what a production web process installs)
    python bench/install_size.py --target install  # + the embedded model (`make run`)
    python bench/install_size.py --target install-dev --keep /tmp/devvenv

The venv is built in a temporary directory (or `--keep DIR`) with `make VENV=... <target>`, so it
measures exactly what the Makefile installs; pip's cache makes a rebuild take a minute. Prints
`du -sm` of the venv, the same without bytecode caches, the largest site-packages entries, whether
anything CUDA- or PyTorch-like got in, and a JSON summary as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "torch",
    "nvidia",
    "cuda",
    "triton",
    "onnxruntime",
    "transformers",
    "sentence_transformers",
)


def du_mb(path: Path, *options: str) -> int:
    command = ["du", "-sm", *options, str(path)]
    out = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return int(out.stdout.split()[0])


def tree_bytes(path: Path) -> int:
    return sum(
        (Path(folder) / f).lstat().st_size for folder, _, files in os.walk(path) for f in files
    )


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python3*/site-packages"))


def largest(site: Path, count: int) -> list[tuple[str, float]]:
    sizes = []
    for entry in site.iterdir():
        size = tree_bytes(entry) if entry.is_dir() else entry.lstat().st_size
        sizes.append((entry.name, round(size / 1e6, 1)))
    return sorted(sizes, key=lambda row: -row[1])[:count]


def build(venv: Path, target: str, python: str) -> float:
    started = time.monotonic()
    subprocess.run(  # noqa: S603
        ["make", "-C", str(ROOT), f"VENV={venv}", f"PYTHON={python}", target],  # noqa: S607
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="install-site", help="a Makefile install target")
    parser.add_argument("--python", default="python3.11")
    parser.add_argument("--keep", type=Path, help="build here and keep it (default: a temp dir)")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    scratch = None if args.keep else Path(tempfile.mkdtemp(prefix="install-size-"))
    venv = (args.keep or scratch / "venv").resolve()
    try:
        seconds = build(venv, args.target, args.python)
        site = site_packages(venv)
        total = du_mb(venv)
        no_bytecode = du_mb(venv, "--exclude=__pycache__")
        heavy = sorted(e.name for e in site.iterdir() if e.name.lower().startswith(HEAVY))
        print(f"target {args.target}: du -sm {total} MB ({no_bytecode} MB without __pycache__)")
        for name, mb in largest(site, args.top):
            print(f"  {mb:7.1f} MB  {name}")
        print(f"  torch/CUDA/ONNX-like entries: {heavy or 'none'}")
        summary = {
            "target": args.target,
            "venv_mb": total,
            "venv_mb_without_bytecode": no_bytecode,
            "heavy": heavy,
            "install_s": round(seconds, 1),
        }
        print(json.dumps(summary))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
