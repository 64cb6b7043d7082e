"""`POST /api/chat/ask-about/`: a conversation primed from a chart ("Ask AI about this chart").

Body `{chart_type, image, context}` -> 201 `{session, prompt, title}`: a new conversation of the
requester (in the template's universe, with the chart's ids kept in its context) and the prompt
the widget then sends in it, with the image, as an ordinary `message`.

Chat knows no chart: apps register a template per chart type from their `AppConfig.ready()`:

    ask_about_template_register("speed_trace", AskAboutTemplate(
        prompt="Compare the speed traces of {drivers} in the {race}...",
        title="{drivers}: speed trace", universe="race", resolve=chart_labels, keep=("race",)))

`resolve(context) -> dict[str, str]` turns the client's context into the words of the prompt,
looked up in the app's own database by the ids in it (raise chat.exceptions.InvalidInput for an
unknown id); the client's numbers never reach the prompt. Without `resolve`, the context's short
strings and numbers fill the template as they are. An unregistered chart type is a 400.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from chat import services
from chat.exceptions import ChatError, InvalidInput, TooLarge
from chat.http import chat_error_response, json_body
from chat.identity import asker_for, owner_from_request
from chat.reply.universes import universe_get
from chat.validation import MAX_CONTEXT_CHARS, parse_image

MAX_LABEL_CHARS = 200
Resolver = Callable[[dict], dict]


@dataclass(frozen=True)
class AskAboutTemplate:
    """How to ask about one chart type. `prompt` and `title` are `str.format` templates over
    the labels `resolve` returns; `keep` lists the context keys (ids) stored with the
    conversation; `universe` is the conversation's universe ("" for the default)."""

    prompt: str
    title: str = "About this chart"
    universe: str = ""
    resolve: Resolver | None = None
    keep: tuple[str, ...] = ()


@dataclass(frozen=True)
class AskAbout:
    """A primed question: its prompt and title, the universe, and the ids kept from the chart."""

    chart_type: str
    prompt: str
    title: str
    universe: str
    context: dict


_templates: dict[str, AskAboutTemplate] = {}


def ask_about_template_register(chart_type: str, template: AskAboutTemplate | str) -> None:
    """Add (or replace) the template of `chart_type`. Call from `AppConfig.ready()`."""
    if isinstance(template, str):
        template = AskAboutTemplate(prompt=template)
    _templates[chart_type] = template


def ask_about_template_unregister(chart_type: str) -> None:
    _templates.pop(chart_type, None)


def ask_about_chart_types() -> list[str]:
    return sorted(_templates)


def ask_about_prime(*, chart_type: str, context: dict) -> AskAbout:
    """The prompt and title for a chart, from its registered template and resolved context."""
    template = _templates.get(chart_type) if isinstance(chart_type, str) else None
    if template is None:
        known = ", ".join(ask_about_chart_types()) or "none"
        raise InvalidInput(f"Unknown `chart_type` {chart_type!r}. Known chart types: {known}.")
    labels = template.resolve(context) if template.resolve else _plain_labels(context)
    return AskAbout(
        chart_type=chart_type,
        prompt=_fill(template.prompt, labels),
        title=_fill(template.title, labels)[:200],
        universe=template.universe,
        context={k: context[k] for k in template.keep if k in context},
    )


def _fill(text: str, labels: dict) -> str:
    """Format `text` with `labels`; a field without a label stays readable ("this chart")."""
    values = {
        name: str(labels.get(name, "this chart"))[:MAX_LABEL_CHARS]
        for _, name, _, _ in string.Formatter().parse(text)
        if name
    }
    return text.format_map(values)


def _plain_labels(context: dict) -> dict[str, str]:
    labels = {}
    for key, value in context.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            labels[key] = str(value)
        elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            labels[key] = ", ".join(map(str, value[:20]))
    return labels


def _request_parse(request) -> tuple[str, dict]:
    data = json_body(request, max_bytes=settings.CHAT_MAX_FRAME_BYTES)
    chart_type, context = data.get("chart_type"), data.get("context") or {}
    if not isinstance(chart_type, str) or not chart_type:
        raise InvalidInput("`chart_type` is missing: name the kind of chart (e.g. speed_trace).")
    if not isinstance(context, dict):
        raise InvalidInput("`context` must be an object.")
    if len(str(context)) > MAX_CONTEXT_CHARS:
        raise TooLarge(f"`context` is over {MAX_CONTEXT_CHARS} characters.")
    if data.get("image"):
        parse_image(data["image"])  # a PNG, JPEG or WebP under CHAT_MAX_IMAGE_BYTES, decoded
    return chart_type, context


@require_POST
def ask_about(request):
    """Prime a conversation of the requester from a chart (see the module docstring)."""
    try:
        owner = owner_from_request(request)
        chart_type, context = _request_parse(request)
        primed = ask_about_prime(chart_type=chart_type, context=context)
        asker = asker_for(owner)
        universe = universe_get(primed.universe, asker).key if primed.universe else ""
    except ChatError as exc:
        return chat_error_response(exc)
    session = services.session_create(
        owner=owner,
        title=primed.title,
        universe=universe,
        context={"ask_about": {"chart_type": chart_type, **primed.context}},
        provider=settings.CHAT_PROVIDER,
        model=settings.CHAT_MODEL,
        generation_options=settings.CHAT_GENERATION,
    )
    body = {"session": str(session.id), "prompt": primed.prompt, "title": primed.title}
    return JsonResponse(body, status=201)
