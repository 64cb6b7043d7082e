"""The operator's admin pages and their JSON endpoints (wired in chat/operator/admin.py).

Every endpoint answers only active staff who hold the named permission (403 JSON otherwise,
never a redirect a script would follow), needs the CSRF token for POST, and never returns the
API key: at most whether one is stored.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.admin.models import CHANGE as CHANGE_FLAG
from django.contrib.admin.models import LogEntry
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from chat.config import assistant_config, env_config
from chat.guards.breaker import breakers_snapshot
from chat.operator import probe, selectors, services
from chat.operator.exceptions import ModelServerError
from chat.operator.forms import AssistantSettingsForm
from chat.operator.models import AssistantSettings
from chat.operator.ollama import OllamaClient, PullProgress
from chat.operator.overlay import loaded_stamp, overrides_from
from chat.providers.base import ProviderError
from chat.redis_pool import redis_status

log = structlog.get_logger(__name__)

VIEW = "chat.view_assistantsettings"
CHANGE = "chat.change_assistantsettings"
MANAGE = "chat.manage_models"
MAX_BODY = 16 * 1024


def operator_endpoint(permission: str):
    """Staff with `permission` only; JSON 403 for anyone else; CSRF on POST; never cached."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not (user.is_authenticated and user.is_active and user.is_staff):
                return _error("forbidden", "Staff only: sign in to the admin.", status=403)
            if not user.has_perm(permission):
                return _error("forbidden", "You lack the permission for this.", status=403)
            return view(request, *args, **kwargs)

        return csrf_protect(never_cache(wrapper))

    return decorate


def _error(code: str, message: str, *, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


def _body(request) -> dict[str, Any]:
    if len(request.body) > MAX_BODY:
        return {}
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _model_name(request) -> str:
    name = str(_body(request).get("model") or "").strip()
    return name if 0 < len(name) <= 200 and not any(c.isspace() for c in name) else ""


# --- Settings: effective values, test connection, health ---------------------------------------


def config_public(config) -> dict[str, Any]:
    """The effective configuration without its secret (whether a key is in force, at most)."""
    data = dataclasses.asdict(config)
    data["api_key_set"] = bool(data.pop("api_key"))
    return data


@require_GET
@operator_endpoint(VIEW)
def effective(request):
    """This process's effective configuration (what its next reply would use)."""
    return JsonResponse(
        {
            "pid": os.getpid(),
            "stamp": loaded_stamp(),
            "config": config_public(assistant_config()),
        }
    )


@require_POST
@sensitive_post_parameters("api_key")
@operator_endpoint(CHANGE)
def test_connection(request):
    """Stream a short answer with the form's values (saved or not); report time to first token."""
    row = selectors.settings_get()
    form = AssistantSettingsForm(request.POST, instance=selectors.settings_get())
    if not form.is_valid():
        errors = {name: [str(e) for e in errs] for name, errs in form.errors.items()}
        return JsonResponse(
            {"ok": False, "error": "Fix the form's errors first.", "fields": errors}, status=400
        )
    config = _config_to_test(form, saved=row)
    result = async_to_sync(probe.connection_test)(config=config)
    return JsonResponse(result)


def _config_to_test(form: AssistantSettingsForm, *, saved: AssistantSettings):
    """The form's values over the environment's; the stored key only for the stored server."""
    candidate = AssistantSettings(**form.override_values())
    config = overrides_from(candidate).applied_to(env_config())
    typed = form.cleaned_data.get("api_key") or ""
    if typed:
        return dataclasses.replace(config, api_key=typed)
    current = assistant_config()
    same_server = (config.provider, config.base_url) == (current.provider, current.base_url)
    keep = same_server and not form.cleaned_data.get("clear_api_key") and saved.api_key_set
    return dataclasses.replace(config, api_key=current.api_key if keep else "")


@require_GET
@operator_endpoint(VIEW)
def health(request):
    """The admin index's panel: provider, breakers, Redis, the model in use, today's usage."""
    config = assistant_config()
    provider = async_to_sync(probe.provider_glance)(config=config)
    row = selectors.settings_get()
    return JsonResponse(
        {
            "provider": provider,
            "base_url": config.base_url or "",
            "breakers": breakers_snapshot(),
            "redis": redis_status(),
            "usage": selectors.usage_today(),
            "settings": {
                "saved": bool(row.stamp),
                "updated_at": row.updated_at.isoformat() if row.stamp else None,
                "api_key": "set" if row.api_key_set else "not set",
            },
        }
    )


# --- Model manager ------------------------------------------------------------------------------


def _ollama() -> OllamaClient:
    return OllamaClient(base_url=settings.OLLAMA_BASE_URL)


def model_servers() -> dict[str, dict[str, str]]:
    return {
        "llamacpp": {"label": "Embedded llama.cpp", "base_url": settings.LOCAL_MODEL_BASE_URL},
        "lmstudio": {"label": "LM Studio", "base_url": settings.LMSTUDIO_BASE_URL},
        "ollama": {"label": "Ollama", "base_url": settings.OLLAMA_BASE_URL.rstrip("/") + "/v1"},
    }


def _server_error(exc: ModelServerError) -> JsonResponse:
    status = exc.status if 400 <= exc.status < 600 else 502
    return _error("model_server", exc.message, status=status)


@require_GET
@operator_endpoint(VIEW)
def ollama_models(request):
    client = _ollama()
    try:
        models = async_to_sync(client.models)()
        running = async_to_sync(client.running)()
    except ModelServerError as exc:
        return _server_error(exc)
    return JsonResponse({"base_url": client.base_url, "models": models, "running": running})


@require_POST
@operator_endpoint(VIEW)
def ollama_show(request):
    model = _model_name(request)
    if not model:
        return _error("invalid", "Name a model.", status=400)
    try:
        return JsonResponse(async_to_sync(_ollama().show)(model=model))
    except ModelServerError as exc:
        return _server_error(exc)


@require_POST
@operator_endpoint(MANAGE)
def ollama_action(request, action: str):
    """delete, load or unload one model."""
    model = _model_name(request)
    if not model:
        return _error("invalid", "Name a model.", status=400)
    client = _ollama()
    call = {"delete": client.delete, "load": client.load, "unload": client.unload}.get(action)
    if call is None:
        return _error("not_found", "Unknown action: delete, load or unload.", status=404)
    try:
        async_to_sync(call)(model=model)
    except ModelServerError as exc:
        log.info("ollama_action_failed", action=action, model=model, status=exc.status)
        return _server_error(exc)
    log.info("ollama_action", action=action, model=model, user_id=request.user.pk)
    return JsonResponse({"ok": True, "action": action, "model": model})


@require_POST
@operator_endpoint(MANAGE)
def ollama_pull(request):
    """Relay Ollama's pull progress as NDJSON: `{status, completed, total}` lines, then
    `{"status": "success"}` or `{"error": "<Ollama's words>"}`."""
    model = _model_name(request)
    if not model:
        return _error("invalid", "Name a model to pull, e.g. llama3.2 or qwen2.5:0.5b.", status=400)
    log.info("ollama_pull_started", model=model, user_id=request.user.pk)
    response = StreamingHttpResponse(
        _pull_lines(_ollama(), model), content_type="application/x-ndjson"
    )
    response["X-Accel-Buffering"] = "no"
    return response


async def _pull_lines(client: OllamaClient, model: str):
    progress = PullProgress()
    try:
        async for item in client.pull(model=model):
            yield (json.dumps(progress.see(item)) + "\n").encode()
    except ModelServerError as exc:
        log.info("ollama_pull_failed", model=model, status=exc.status)
        yield (json.dumps({"error": exc.message}) + "\n").encode()
        return
    log.info("ollama_pull_finished", model=model, bytes=sum(t for _, t in progress.layers.values()))


@require_GET
@operator_endpoint(VIEW)
def server_models(request, server: str):
    """The models an OpenAI-compatible server lists (llama.cpp, LM Studio, Ollama's /v1)."""
    target = model_servers().get(server)
    if target is None:
        return _error("not_found", "Unknown server.", status=404)
    try:
        models = async_to_sync(probe.openai_models)(base_url=target["base_url"])
    except ProviderError as exc:
        return _error("model_server", exc.message, status=502)
    except TimeoutError:
        return _error("model_server", f"{target['label']} did not answer in time.", status=504)
    return JsonResponse({**target, "server": server, "models": models})


@require_POST
@operator_endpoint(CHANGE)
def model_choose(request):
    """Make a listed model the assistant's: provider openai, that server's base URL, the model."""
    data = _body(request)
    target = model_servers().get(str(data.get("server") or ""))
    model = _model_name(request)
    if target is None or not model:
        return _error(
            "invalid", "Name a server (llamacpp, lmstudio, ollama) and a model.", status=400
        )
    row = services.settings_update(
        values={"provider": "openai", "base_url": target["base_url"], "model": model},
        user=request.user,
    )
    LogEntry.objects.log_actions(
        user_id=request.user.pk,
        queryset=[row],
        action_flag=CHANGE_FLAG,
        change_message=f"Chose {model} on {target['label']} ({target['base_url']}).",
        single_object=True,
    )
    return JsonResponse({"ok": True, "model": model, "base_url": target["base_url"]})
