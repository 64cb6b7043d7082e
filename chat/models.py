import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class ChatSession(models.Model):
    """One conversation, owned by a user or, for anonymous visitors, by a visitor key."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="chat_sessions",
    )
    visitor_key = models.CharField(max_length=64, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    universe = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.ACTIVE)
    context = models.JSONField(default=dict, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    generation_options = models.JSONField(default=dict, blank=True)
    pinned = models.BooleanField(default=False)
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    rating_comment = models.TextField(blank=True)
    escalated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            models.Index(fields=["user", "-last_activity_at"], name="chat_session_user_recent"),
            models.Index(
                fields=["visitor_key", "-last_activity_at"], name="chat_session_visitor_recent"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="chat_session_rating_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(visitor_key=""),
                name="chat_session_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {str(self.id)[:8]}"


class ChatMessage(models.Model):
    """One turn. An assistant message is created `streaming` and finished exactly once."""

    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming", "Streaming"
        COMPLETE = "complete", "Complete"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    FINAL_STATUSES = frozenset({Status.COMPLETE, Status.STOPPED, Status.FAILED, Status.INTERRUPTED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(ChatSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role)
    text = models.TextField(blank=True)
    image = models.ImageField(upload_to="chat/%Y/%m/", null=True, blank=True)
    # NULL, not "", for messages without one: the unique constraint must ignore them.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    status = models.CharField(max_length=12, choices=Status, default=Status.COMPLETE)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    sources = models.JSONField(default=list, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    cached = models.BooleanField(default=False)
    pinned = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["session", "created_at"], name="chat_message_session_time")]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "client_id"],
                condition=Q(client_id__isnull=False),
                name="chat_message_client_id_unique_per_session",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class DailyUsage(models.Model):
    """What one user or anonymous visitor used on one local day; the daily quotas read it.

    `day` is the date in the owner's time zone when the usage happened. Counters only grow,
    added by the database itself (an upsert: chat/guards/usage.py), so
    concurrent replies never lose a charge.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="chat_daily_usage",
    )
    visitor_key = models.CharField(max_length=64, blank=True)
    day = models.DateField()
    messages = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        indexes = [models.Index(fields=["day"], name="chat_daily_usage_day")]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day"],
                condition=Q(user__isnull=False),
                name="chat_daily_usage_unique_user_day",
            ),
            models.UniqueConstraint(
                fields=["visitor_key", "day"],
                condition=Q(user__isnull=True),
                name="chat_daily_usage_unique_visitor_day",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(visitor_key=""),
                name="chat_daily_usage_has_owner",
            ),
        ]

    def __str__(self) -> str:
        owner = f"user {self.user_id}" if self.user_id is not None else self.visitor_key[:8]
        return f"{owner} on {self.day}: {self.messages} messages"

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


from chat.operator.models import AssistantSettings  # noqa: E402, F401  (the operator's row)
