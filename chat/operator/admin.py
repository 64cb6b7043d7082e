"""The assistant settings in the admin: one row, its form, and the operator's extra pages.

The change list goes straight to the one row; nobody adds or deletes it. Saving goes through
`settings_update` (encrypts a new key, publishes the stamp). The model manager page and the JSON
endpoints of chat/operator/views.py hang off this admin's URLs.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from chat.operator import selectors, services, views
from chat.operator.forms import AssistantSettingsForm
from chat.operator.models import AssistantSettings


@admin.register(AssistantSettings)
class AssistantSettingsAdmin(admin.ModelAdmin):
    form = AssistantSettingsForm
    change_form_template = "admin/chat/assistantsettings/change_form.html"
    fieldsets = [
        ("Model", {"fields": ["provider", "base_url", "model", "api_key", "clear_api_key"]}),
        (
            "Generation defaults",
            {
                "fields": [
                    ("temperature", "top_p", "top_k"),
                    ("repeat_penalty", "context_window", "max_tokens"),
                    "stop",
                ],
            },
        ),
        ("Persona and scope", {"fields": ["site_name", "tone", "scope", "profile"]}),
        (
            "Limits and quotas",
            {
                "description": "Daily quotas: 0 means no limit. Rate limits: N/second, "
                "N/minute or N/hour, or off.",
                "fields": [
                    ("rate_limit", "rate_limit_ip"),
                    ("quota_user_messages", "quota_user_input_tokens", "quota_user_output_tokens"),
                    ("quota_anon_messages", "quota_anon_input_tokens", "quota_anon_output_tokens"),
                ],
            },
        ),
        ("What visitors may choose", {"fields": ["visitor_models", "visitor_options"]}),
    ]

    # Error reports never carry the typed key.
    @method_decorator(sensitive_post_parameters("api_key"))
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_object(self, request, object_id, from_field=None):
        if str(object_id) != str(AssistantSettings.SINGLETON_ID):
            return None
        return selectors.settings_get()

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return HttpResponseRedirect(
            reverse("admin:chat_assistantsettings_change", args=[AssistantSettings.SINGLETON_ID])
        )

    def save_model(self, request, obj, form, change) -> None:
        saved = services.settings_update(
            values=form.override_values(),
            api_key=form.cleaned_data.get("api_key") or "",
            clear_api_key=bool(form.cleaned_data.get("clear_api_key")),
            user=request.user,
        )
        obj.pk, obj.stamp, obj.api_key_encrypted = saved.pk, saved.stamp, saved.api_key_encrypted

    def response_change(self, request, obj):
        response = super().response_change(request, obj)
        if "_continue" not in request.POST and "_save" in request.POST:
            return HttpResponseRedirect(request.path)  # stay on the one row
        return response

    def get_urls(self):
        own = [
            path("effective.json", views.effective, name="chat_assistantsettings_effective"),
            path("health.json", views.health, name="chat_assistantsettings_health"),
            path(
                "test-connection/",
                views.test_connection,
                name="chat_assistantsettings_test_connection",
            ),
            path(
                "models/",
                self.admin_site.admin_view(self.models_view),
                name="chat_assistantsettings_models",
            ),
            path("models/ollama/", views.ollama_models, name="chat_assistantsettings_ollama"),
            path("models/ollama/pull/", views.ollama_pull, name="chat_assistantsettings_pull"),
            path("models/ollama/show/", views.ollama_show, name="chat_assistantsettings_show"),
            path(
                "models/ollama/<str:action>/",
                views.ollama_action,
                name="chat_assistantsettings_ollama_action",
            ),
            path(
                "models/server/<str:server>/",
                views.server_models,
                name="chat_assistantsettings_server_models",
            ),
            path("models/choose/", views.model_choose, name="chat_assistantsettings_choose"),
        ]
        return own + super().get_urls()

    def models_view(self, request):
        """The model manager page (its data comes from the JSON endpoints)."""
        if not request.user.has_perm(views.VIEW):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Model manager",
            "can_manage": request.user.has_perm(views.MANAGE),
            "can_choose": request.user.has_perm(views.CHANGE),
            "servers": views.model_servers(),
            "in_use": views.config_public(views.assistant_config()),
        }
        return TemplateResponse(request, "admin/chat/assistantsettings/models.html", context)
