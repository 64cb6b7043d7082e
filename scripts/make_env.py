"""Write `.env` from `.env.example` with a fresh secret key (only when `.env` does not exist)."""

import secrets
from pathlib import Path

root = Path(__file__).resolve().parent.parent
target = root / ".env"
if target.exists():
    raise SystemExit(0)
lines = []
for line in (root / ".env.example").read_text().splitlines():
    if line.startswith("DJANGO_SECRET_KEY="):
        line = f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}"
    elif line.startswith("DJANGO_DEBUG="):
        line = "DJANGO_DEBUG=true"
    lines.append(line)
target.write_text("\n".join(lines) + "\n")
print(f">> Wrote {target.name} (development settings, fresh secret key): edit it to configure.")
