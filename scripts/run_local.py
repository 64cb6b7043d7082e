"""`make run`: start the embedded local model (when configured) and daphne; Ctrl-C stops both.

The local model is started when the configuration points the `openai` provider at the embedded
llama.cpp server (the default). With another provider or base URL in the environment or `.env`,
only the site starts. If the model server cannot start, the site runs on the `offline` provider and
says so in the log and in /api/health/.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import config.env  # noqa: E402,F401  (loads .env into the environment, without overwriting)
from chat import local_model  # noqa: E402


def say(event: str, **fields: object) -> None:
    extra = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"[run] {event} {extra}".rstrip(), flush=True)


def wants_local_model(port: int) -> bool:
    if os.environ.get("CHAT_PROVIDER", "openai") != "openai":
        return False
    base = os.environ.get("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    url = urlparse(base)
    return url.hostname in ("127.0.0.1", "localhost") and url.port == port


def start_local_model(port: int) -> subprocess.Popen | None:
    log_path = ROOT / "var" / "local-model.log"
    log_path.parent.mkdir(exist_ok=True)
    try:
        say("local_model_starting", model=local_model.MODEL_ALIAS, port=port, log=log_path)
        process = local_model.start_server(port=port, log_path=log_path)
        models = local_model.wait_ready(base_url=f"http://127.0.0.1:{port}/v1", process=process)
    except local_model.LocalModelError as exc:
        note = f"The local model server could not start ({exc}); answering from the knowledge base."
        say("local_model_failed", reason=str(exc), fallback="offline")
        os.environ["CHAT_PROVIDER"] = "offline"
        os.environ["CHAT_MODEL"] = ""
        os.environ["CHAT_PROVIDER_NOTE"] = note
        if "process" in locals():
            local_model.stop_server(process)
        return None
    say("local_model_ready", models=",".join(models))
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()

    model_port = int(os.environ.get("LOCAL_MODEL_PORT", "8080"))
    model = start_local_model(model_port) if wants_local_model(model_port) else None
    if model is None and not os.environ.get("CHAT_PROVIDER_NOTE"):
        say("local_model_skipped", provider=os.environ.get("CHAT_PROVIDER", "openai"))

    say("site_starting", url=f"http://{args.host}:{args.port}/")
    site = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "serve", "-b", args.host, "-p", str(args.port)],
        cwd=ROOT,
    )  # fmt: skip

    def shutdown(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shutdown)
    try:
        return site.wait()
    except KeyboardInterrupt:
        say("stopping")
        return 0
    finally:
        local_model.stop_server(site)
        if model is not None:
            local_model.stop_server(model)


if __name__ == "__main__":
    sys.exit(main())
