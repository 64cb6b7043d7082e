"""REST endpoints of PROTOCOL.md (JSON; the Django session is the identity)."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from chat.health import health_report
from chat.http import error_response
from chat.providers import ProviderError, get_provider


@require_GET
async def health(request):
    report = await health_report()
    return JsonResponse(report, status=200 if report["status"] != "error" else 503)


@require_GET
async def models(request):
    provider = get_provider()
    try:
        available = await provider.list_models()
    except ProviderError as exc:
        return error_response("provider_unavailable", exc.message)
    finally:
        await provider.aclose()
    return JsonResponse(
        {
            "provider": provider.name,
            "active": settings.CHAT_MODEL,
            "models": [{"id": m.id, "owned_by": m.owned_by} for m in available],
        }
    )
