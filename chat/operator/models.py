"""The operator's overrides of the assistant's configuration (imported by chat/models.py)."""

from django.conf import settings
from django.db import models


class AssistantSettings(models.Model):
    """One row (pk 1): what the operator set in the admin. An empty field (blank text, NULL
    number or list) keeps the environment's value; see chat/operator/overlay.py.

    The API key is stored encrypted (Fernet, chat/operator/crypto.py) and never leaves the server
    in any page or response. `stamp` changes on every save: processes compare it to notice edits.
    """

    SINGLETON_ID = 1

    class Profile(models.TextChoices):
        SMALL = "small", "Small (tiny local models: fewer passages, strict and short)"
        LARGE = "large", "Large"

    provider = models.CharField(max_length=50, blank=True)
    base_url = models.CharField("base URL", max_length=500, blank=True)
    model = models.CharField(max_length=200, blank=True)
    api_key_encrypted = models.TextField(blank=True, editable=False)

    temperature = models.FloatField(null=True, blank=True)
    top_p = models.FloatField("top_p", null=True, blank=True)
    top_k = models.PositiveIntegerField("top_k", null=True, blank=True)
    repeat_penalty = models.FloatField(null=True, blank=True)
    context_window = models.PositiveIntegerField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    stop = models.JSONField("stop sequences", null=True, blank=True)

    profile = models.CharField(max_length=10, choices=Profile, blank=True)
    site_name = models.CharField(max_length=200, blank=True)
    tone = models.TextField(blank=True)
    scope = models.TextField(blank=True)

    rate_limit = models.CharField(max_length=40, blank=True)
    rate_limit_ip = models.CharField("rate limit per IP", max_length=40, blank=True)
    quota_user_messages = models.PositiveIntegerField(null=True, blank=True)
    quota_user_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    quota_user_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    quota_anon_messages = models.PositiveIntegerField(null=True, blank=True)
    quota_anon_input_tokens = models.PositiveIntegerField(null=True, blank=True)
    quota_anon_output_tokens = models.PositiveIntegerField(null=True, blank=True)

    visitor_models = models.JSONField(null=True, blank=True)
    visitor_options = models.JSONField(null=True, blank=True)

    stamp = models.CharField(max_length=32, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = "assistant settings"
        verbose_name_plural = "assistant settings"
        permissions = [("manage_models", "Can manage local models (pull, delete, load, unload)")]

    def __str__(self) -> str:
        return "Assistant settings"

    @property
    def api_key_set(self) -> bool:
        return bool(self.api_key_encrypted)
