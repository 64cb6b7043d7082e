"""The prompt inspector for staff: the exact prompt a question would get, part by part.

People who run an assistant need to see why it said what it said. Staff with the permission to
view conversations (`chat.view_chatsession`) type a question, a universe, a page and an "Ask AI
about this" context; the page shows every part with its source and token count, built by the
same code as a real reply (chat.reply.preview).
"""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse

from chat.exceptions import ChatError
from chat.identity import Owner
from chat.reply.preview import prompt_preview
from chat.reply.universes import universe_list

PERMISSION = "chat.view_chatsession"


class PreviewForm(forms.Form):
    question = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))
    universe = forms.ChoiceField(required=False)
    page_url = forms.CharField(required=False, max_length=500, label="Page URL")
    page_title = forms.CharField(required=False, max_length=200)
    page_status = forms.IntegerField(required=False, min_value=100, max_value=599)
    context = forms.CharField(
        required=False,
        max_length=20_000,
        label="Context (JSON)",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["universe"].choices = [("", "Routed by the intent router")] + [
            (u.key, u.label) for u in universe_list(None)
        ]

    def clean_context(self) -> dict:
        raw = self.cleaned_data["context"].strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The context must be a JSON object.")
        return value


def prompt_inspector(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form = PreviewForm(request.GET or None)
    preview, error = None, ""
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        page = {"url": data["page_url"], "title": data["page_title"]}
        if data["page_status"]:
            page["status"] = data["page_status"]
        owner = Owner(user_id=request.user.pk, visitor_key="prompt-inspector")
        try:
            preview = async_to_sync(prompt_preview)(
                data["question"],
                universe=data["universe"],
                page=page,
                context=data["context"],
                owner=owner,
            )
        except ChatError as exc:
            error = exc.message
    context = {
        **admin.site.each_context(request),
        "title": "Prompt inspector",
        "form": form,
        "preview": preview,
        "error": error,
    }
    return TemplateResponse(request, "admin/chat/prompt_inspector.html", context)
