"""The one place that reads the process environment (and an env file, if present).

Variables already in the environment win over the file. `DJANGO_ENV_FILE` names the file
(default `.env` at the repository root); set it to an empty string to read none (the tests do).
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

_env_file = os.environ.get("DJANGO_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file and Path(_env_file).is_file():
    environ.Env.read_env(_env_file, overwrite=False)
