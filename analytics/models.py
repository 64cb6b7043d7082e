"""What happened and how well: one row per reply, one per conversation, and daily rollups.

Facts are written once by the receivers of chat's signals (analytics/receivers.py) and never
rewritten by a price change: a reply's cost is computed when it is recorded. The dashboard reads
only the rollups (`DailyRollup`, `DailyCount`, `OwnerDay`), whose rows are one per day and
dimension, never the messages. Rows written by `seed_analytics_demo` carry `synthetic=True` and
are removed by `seed_analytics_demo --remove` alone.
"""

from __future__ import annotations

from django.db import models

# Upper bounds (ms) of the time-to-first-token histogram kept per rollup row (columns ttft_0 ..
# ttft_16; the last counts everything above the last bound). Columns, not a JSON list, so that a
# reply adds to them with one UPDATE ... SET ttft_3 = ttft_3 + 1.
TTFT_BUCKETS_MS = (
    50, 100, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 20000, 30000,
)  # fmt: skip
TTFT_BUCKET_COUNT = len(TTFT_BUCKETS_MS) + 1


class UserType(models.TextChoices):
    ANONYMOUS = "anonymous", "Anonymous visitor"
    USER = "user", "Signed-in user"
    STAFF = "staff", "Staff"


class ReplyFact(models.Model):
    """One finished reply, as chat's `reply_finished` described it, with its cost."""

    reply_id = models.UUIDField(unique=True)
    question_id = models.UUIDField(null=True, blank=True)
    session_id = models.UUIDField(db_index=True)
    finished_at = models.DateTimeField()
    day = models.DateField()  # in settings.TIME_ZONE
    user_id = models.BigIntegerField(null=True, blank=True)
    visitor_key = models.CharField(max_length=64, blank=True)
    # "anonymous", "user", "staff", or "user:client" when the site names a role
    user_type = models.CharField(max_length=80)
    universe = models.CharField(max_length=50, blank=True)
    page_url = models.CharField(max_length=500, blank=True)
    topic = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12)
    error_code = models.CharField(max_length=40, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(default=0)
    cached = models.BooleanField(default=False)
    fallback = models.BooleanField(default=False)
    top_passage_score = models.FloatField(null=True, blank=True)
    verdict = models.CharField(max_length=12, blank=True)
    escalation_reason = models.CharField(max_length=20, blank=True)
    question = models.TextField(blank=True)
    regenerated = models.BooleanField(default=False)  # its question was counted before
    is_gap = models.BooleanField(default=False)  # no grounded answer: see services.gap_reason
    synthetic = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["day"], name="an_reply_day"),
            models.Index(fields=["finished_at"], name="an_reply_finished"),
        ]

    def __str__(self) -> str:
        return f"reply {self.reply_id} ({self.status})"


class ConversationFact(models.Model):
    """One conversation: what its replies added up to, and how it ended.

    `resolved` is kept current by services (see `RESOLVED_DEFINITION` in analytics/services).
    """

    session_id = models.UUIDField(unique=True)
    started_at = models.DateTimeField()
    day = models.DateField()  # the day of its first reply, in settings.TIME_ZONE
    last_at = models.DateTimeField()
    user_id = models.BigIntegerField(null=True, blank=True)
    visitor_key = models.CharField(max_length=64, blank=True)
    user_type = models.CharField(max_length=80)
    universe = models.CharField(max_length=50, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    first_page = models.CharField(max_length=500, blank=True)
    pages = models.JSONField(default=list, blank=True)
    messages = models.PositiveIntegerField(default=0)  # questions and replies
    replies = models.PositiveIntegerField(default=0)
    replies_complete = models.PositiveIntegerField(default=0)
    replies_stopped = models.PositiveIntegerField(default=0)
    replies_failed = models.PositiveIntegerField(default=0)
    replies_interrupted = models.PositiveIntegerField(default=0)
    first_ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_sum_ms = models.PositiveBigIntegerField(default=0)
    ttft_count = models.PositiveIntegerField(default=0)
    total_ms = models.PositiveBigIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0)
    gaps = models.PositiveIntegerField(default=0)
    escalated = models.BooleanField(default=False)
    escalation_reason = models.CharField(max_length=20, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)
    resolved = models.BooleanField(default=True)
    synthetic = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["day"], name="an_conv_day")]

    def __str__(self) -> str:
        return f"conversation {self.session_id}"

    @property
    def avg_ttft_ms(self) -> int | None:
        return round(self.ttft_sum_ms / self.ttft_count) if self.ttft_count else None


class DailyRollup(models.Model):
    """Sums for one day and one combination of the dashboard's filters.

    Reply counters count replies that finished that day; conversation counters (`conversations`,
    `escalated`, `resolved`, ratings) count conversations that started that day.
    `ttft_0` .. `ttft_16` count replies per bucket of TTFT_BUCKETS_MS.
    """

    day = models.DateField()
    user_type = models.CharField(max_length=80)
    universe = models.CharField(max_length=50, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    synthetic = models.BooleanField(default=False)
    conversations = models.PositiveIntegerField(default=0)
    messages = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    replies_complete = models.PositiveIntegerField(default=0)
    replies_stopped = models.PositiveIntegerField(default=0)
    replies_failed = models.PositiveIntegerField(default=0)
    replies_interrupted = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0)
    for _bucket in range(TTFT_BUCKET_COUNT):  # ttft_0 .. ttft_16 (see TTFT_BUCKETS_MS)
        locals()[f"ttft_{_bucket}"] = models.PositiveIntegerField(default=0)
    del _bucket
    checked = models.PositiveIntegerField(default=0)  # replies with a groundedness verdict
    grounded = models.PositiveIntegerField(default=0)
    gaps = models.PositiveIntegerField(default=0)
    escalated = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    rated = models.PositiveIntegerField(default=0)
    rating_1 = models.PositiveIntegerField(default=0)
    rating_2 = models.PositiveIntegerField(default=0)
    rating_3 = models.PositiveIntegerField(default=0)
    rating_4 = models.PositiveIntegerField(default=0)
    rating_5 = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user_type", "universe", "provider", "model", "synthetic"],
                name="an_rollup_unique_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_type} {self.universe} {self.provider}/{self.model}"

    @property
    def ttft_hist(self) -> list[int]:
        return [getattr(self, f"ttft_{index}") for index in range(TTFT_BUCKET_COUNT)]


class DailyCount(models.Model):
    """How often one topic or one page came up on one day, per filter combination."""

    class Kind(models.TextChoices):
        TOPIC = "topic", "Topic"
        PAGE = "page", "Page"

    day = models.DateField()
    kind = models.CharField(max_length=8, choices=Kind)
    key = models.CharField(max_length=500)
    user_type = models.CharField(max_length=80)
    universe = models.CharField(max_length=50, blank=True)
    provider = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=200, blank=True)
    synthetic = models.BooleanField(default=False)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "kind", "key", "user_type", "universe", "provider", "model",
                        "synthetic"],
                name="an_count_unique_key",
            )
        ]  # fmt: skip
        indexes = [models.Index(fields=["kind", "day"], name="an_count_kind_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.key}: {self.count}"


class OwnerDay(models.Model):
    """What one user or anonymous visitor spent on one day (the denial-of-wallet view)."""

    day = models.DateField()
    user_id = models.BigIntegerField(null=True, blank=True)
    visitor_key = models.CharField(max_length=64, blank=True)
    user_type = models.CharField(max_length=80)
    synthetic = models.BooleanField(default=False)
    replies = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)

    class Meta:
        # Two partial constraints: in a plain one NULL user ids would all be distinct, and two
        # first replies of a visitor's day could create two rows.
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user_id", "synthetic"],
                condition=models.Q(user_id__isnull=False),
                name="an_owner_day_unique_user",
            ),
            models.UniqueConstraint(
                fields=["day", "visitor_key", "synthetic"],
                condition=models.Q(user_id__isnull=True),
                name="an_owner_day_unique_visitor",
            ),
        ]
        indexes = [models.Index(fields=["day", "-cost"], name="an_owner_day_cost")]

    def __str__(self) -> str:
        who = f"user {self.user_id}" if self.user_id is not None else self.visitor_key[:8]
        return f"{who} on {self.day}: {self.cost}"


class GapGroup(models.Model):
    """Questions that got no grounded answer, paraphrases grouped together."""

    question = models.TextField()  # the first question of the group, as asked
    signature = models.TextField(blank=True)  # its content words, for lexical matching
    vector = models.BinaryField(null=True, blank=True)  # float32 unit vector of the question
    count = models.PositiveIntegerField(default=0)
    first_asked_at = models.DateTimeField()
    last_asked_at = models.DateTimeField(db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    synthetic = models.BooleanField(default=False)

    class Meta:
        verbose_name = "knowledge gap"
        ordering = ["-count", "-last_asked_at"]

    def __str__(self) -> str:
        return self.question[:80]


class GapQuestion(models.Model):
    """One unanswered question, in its group."""

    group = models.ForeignKey(GapGroup, on_delete=models.CASCADE, related_name="questions")
    reply_id = models.UUIDField(unique=True)
    session_id = models.UUIDField()
    question = models.TextField()
    reason = models.CharField(max_length=20)  # no_passage, unanswered, ungrounded
    asked_at = models.DateTimeField()
    synthetic = models.BooleanField(default=False)

    class Meta:
        ordering = ["-asked_at"]
        indexes = [models.Index(fields=["asked_at"], name="an_gap_question_asked")]

    def __str__(self) -> str:
        return self.question[:80]


class WeeklyReport(models.Model):
    """A saved weekly report: one per ISO week (a second run for the week replaces it)."""

    week = models.CharField(max_length=8, unique=True)  # "2026-W48"
    data = models.JSONField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-week"]

    def __str__(self) -> str:
        return f"Weekly report {self.week}"


class Dashboard(models.Model):
    """No table: gives the dashboard its permission and its place on the admin index."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_dashboard", "Can view the analytics dashboard and exports")]
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"

    def __str__(self) -> str:
        return "Analytics dashboard"
