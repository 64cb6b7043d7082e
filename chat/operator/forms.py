"""The assistant settings form: every field optional (empty keeps the environment's value),
validated with errors an operator can act on. The API key is write-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chat.config import env_config
from chat.guards.limits import parse_rate
from chat.operator.crypto import encryption_configured
from chat.operator.models import AssistantSettings
from chat.operator.overlay import RATE_OFF

# Options a signed-in visitor may be allowed to set for their conversation.
VISITOR_OPTION_CHOICES = ("temperature", "top_p", "top_k", "repeat_penalty", "max_tokens")
NONE_WORD = "none"
MAX_STOP_SEQUENCES = 4
OVERRIDE_FIELDS = (
    "provider", "base_url", "model",
    "temperature", "top_p", "top_k", "repeat_penalty", "context_window", "max_tokens", "stop",
    "profile", "site_name", "tone", "scope",
    "rate_limit", "rate_limit_ip",
    "quota_user_messages", "quota_user_input_tokens", "quota_user_output_tokens",
    "quota_anon_messages", "quota_anon_input_tokens", "quota_anon_output_tokens",
    "visitor_models", "visitor_options",
)  # fmt: skip
RANGES = {  # field: (minimum, maximum)
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "top_k": (0, 1000),
    "repeat_penalty": (0.5, 2.5),
    "context_window": (256, 2_000_000),
    "max_tokens": (1, 200_000),
}


class ListField(forms.CharField):
    """Comma- or line-separated words: empty is None (the environment's), "none" is []."""

    def __init__(self, *, separator: str = ",", **kwargs: Any) -> None:
        self.separator = separator
        super().__init__(required=False, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return self.separator.join(value) if value else NONE_WORD
        return value

    def to_python(self, value: Any) -> list[str] | None:
        text = (value or "").strip()
        if not text:
            return None
        if text.lower() == NONE_WORD:
            return []
        return [item.strip() for item in text.split(self.separator) if item.strip()]


class StopField(ListField):
    """One stop sequence per line (kept as typed, spaces included; `\\n` means a newline)."""

    def to_python(self, value: Any) -> list[str] | None:
        text = (value or "").strip("\r\n")
        if not text.strip():
            return None
        if text.strip().lower() == NONE_WORD:
            return []
        lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
        return [line.replace("\\n", "\n") for line in lines]

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(v.replace("\n", "\\n") for v in value) if value else NONE_WORD
        return value


class AssistantSettingsForm(forms.ModelForm):
    provider = forms.ChoiceField(required=False)
    api_key = forms.CharField(
        label="Replace API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    clear_api_key = forms.BooleanField(label="Remove the stored API key", required=False)
    stop = StopField(
        separator="\n", widget=forms.Textarea(attrs={"rows": 3}), label="Stop sequences"
    )
    visitor_models = ListField(label="Models visitors may choose")
    visitor_options = ListField(label="Options visitors may set")

    class Meta:
        model = AssistantSettings
        fields = OVERRIDE_FIELDS
        widgets = {
            "tone": forms.Textarea(attrs={"rows": 2}),
            "scope": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        env = env_config()
        providers = sorted(settings.CHAT_PROVIDERS)
        self.fields["provider"].choices = [("", f"environment ({env.provider})")] + [
            (name, name) for name in providers
        ]
        self._placeholders(env)
        stored = "set" if self.instance.api_key_set else "not set"
        self.fields["api_key"].help_text = (
            f"Stored API key: <strong>{stored}</strong>. It is never shown; type a new one to "
            "replace it, or leave empty to keep it. Empty and not set: the environment's key."
        )
        self.fields["visitor_options"].help_text = (
            f"Comma-separated, from: {', '.join(VISITOR_OPTION_CHOICES)}. "
            f'"{NONE_WORD}" for none; empty for the environment\'s.'
        )

    def _placeholders(self, env) -> None:
        defaults: dict[str, Any] = {
            "base_url": env.base_url or _env_base_url(env.provider),
            "model": env.model,
            "profile": env.profile,
            "site_name": env.site_name,
            "tone": env.tone,
            "scope": env.scope,
            "stop": "\\n".join(env.generation.get("stop") or ()) or "(none)",
            "visitor_models": ", ".join(env.visitor_models) or NONE_WORD,
            "visitor_options": ", ".join(env.visitor_options) or NONE_WORD,
            **{k: env.generation.get(k, "server's") for k in RANGES},
            **{k: (v if v != "" else RATE_OFF) for k, v in env.limits.items()},
        }
        for name, value in defaults.items():
            field = self.fields.get(name)
            if field is not None and not isinstance(field.widget, forms.Select):
                field.widget.attrs["placeholder"] = str(value)  # the environment's (see intro)

    # --- field checks -------------------------------------------------------------------------
    def clean_base_url(self) -> str:
        url = self.cleaned_data["base_url"].strip()
        if url and not url.startswith(("http://", "https://")):
            raise forms.ValidationError(
                "A base URL starts with http:// or https:// (an OpenAI-compatible server's "
                "usually ends in /v1, e.g. http://127.0.0.1:1234/v1 for LM Studio)."
            )
        return url.rstrip("/")

    def clean_stop(self) -> list[str] | None:
        stop = self.cleaned_data["stop"]
        if stop and len(stop) > MAX_STOP_SEQUENCES:
            raise forms.ValidationError(
                f"At most {MAX_STOP_SEQUENCES} stop sequences (OpenAI's limit); "
                f"you gave {len(stop)}."
            )
        if stop and any(len(s) > 64 for s in stop):
            raise forms.ValidationError("A stop sequence is at most 64 characters.")
        return stop

    def clean_visitor_options(self) -> list[str] | None:
        options = self.cleaned_data["visitor_options"]
        unknown = [o for o in options or () if o not in VISITOR_OPTION_CHOICES]
        if unknown:
            raise forms.ValidationError(
                f"Unknown option {', '.join(unknown)}: "
                f"choose from {', '.join(VISITOR_OPTION_CHOICES)}."
            )
        return options

    def clean_rate_limit(self) -> str:
        return _rate(self.cleaned_data["rate_limit"])

    def clean_rate_limit_ip(self) -> str:
        return _rate(self.cleaned_data["rate_limit_ip"])

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"]
        if key and not encryption_configured():
            raise forms.ValidationError(
                "API keys are stored encrypted and CONCIERGE_ENCRYPTION_KEY is not set: set it "
                "(see README, Operator settings) and restart, or keep the key in the environment."
            )
        if key and (len(key) < 8 or any(c.isspace() for c in key)):
            raise forms.ValidationError(
                "That does not look like an API key (8+ characters, no spaces)."
            )
        return key

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, (low, high) in RANGES.items():
            value = data.get(name)
            if value is not None and not low <= value <= high:
                self.add_error(name, f"Must be between {low:g} and {high:g}; you gave {value:g}.")
        self._check_model(data)
        self._check_tokens(data)
        self._check_key(data)
        return data

    def _check_model(self, data: dict[str, Any]) -> None:
        env = env_config()
        provider = data.get("provider") or env.provider
        if provider != env.provider and not data.get("model"):
            self.add_error(
                "model",
                f"Name the model for {provider}: the environment's model ({env.model}) belongs "
                f"to {env.provider}.",
            )

    def _check_tokens(self, data: dict[str, Any]) -> None:
        window, most = data.get("context_window"), data.get("max_tokens")
        if window and most and most >= window:
            self.add_error(
                "max_tokens",
                f"The answer's max tokens ({most}) must be below the context window ({window}): "
                "the question and its context need room too.",
            )

    def _check_key(self, data: dict[str, Any]) -> None:
        provider = data.get("provider") or env_config().provider
        if provider != "anthropic" or data.get("api_key"):
            return
        stored = self.instance.api_key_set and not data.get("clear_api_key")
        if not stored and not settings.ANTHROPIC_API_KEY:
            self.add_error(
                "api_key", "Anthropic needs an API key: enter one here or set ANTHROPIC_API_KEY."
            )

    def override_values(self) -> dict[str, Any]:
        """The model fields to save (the key is handled apart, encrypted)."""
        return {name: self.cleaned_data.get(name) for name in OVERRIDE_FIELDS}


def _rate(value: str) -> str:
    value = (value or "").strip()
    if not value or value.lower() == RATE_OFF:
        return value.lower()
    try:
        parse_rate(value)
    except ImproperlyConfigured as exc:
        raise forms.ValidationError(f"{exc} Or {RATE_OFF!r} for no limit.") from None
    return value


def _env_base_url(provider: str) -> str:
    if provider == "openai":
        return settings.OPENAI_BASE_URL
    if provider == "anthropic":
        return settings.ANTHROPIC_BASE_URL or "Anthropic's"
    return "(none)"
