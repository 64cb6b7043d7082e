"""Every environment variable the settings read is documented in .env.example and the README."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ = re.compile(r'env\.(?:str|int|bool|float|list|path|db_url)\(\s*"([A-Z0-9_]+)"')
ENVIRON = re.compile(r'os\.environ\.get\("([A-Z0-9_]+)"')


def variables() -> set[str]:
    found = set(READ.findall((ROOT / "config" / "settings.py").read_text()))
    for path in (ROOT / "chat" / "local_model.py", ROOT / "scripts" / "run_local.py"):
        found |= set(ENVIRON.findall(path.read_text()))
    return found - {"DJANGO_SETTINGS_MODULE"}


def test_settings_read_the_variables_we_expect():
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CHAT_PROVIDER"} <= variables()


def test_every_variable_is_in_env_example():
    example = (ROOT / ".env.example").read_text()
    missing = sorted(v for v in variables() if not re.search(rf"^#? ?{v}=", example, re.M))
    assert missing == []


def test_every_variable_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = sorted(v for v in variables() if f"`{v}`" not in readme)
    assert missing == []
