"""What the assistant knows about the site: help entries, services, and what each page is for."""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.db.models import Q


class Service(models.Model):
    """Something the site offers, with its price and availability."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="Markdown.")
    price = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="Empty: on request."
    )
    currency = models.CharField(max_length=3, default="USD")
    duration = models.DurationField(null=True, blank=True)
    availability = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="Path or URL of its page.")
    is_active = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def price_display(self) -> str:
        if self.price is None:
            return "on request"
        if self.price == 0:
            return "free"
        return f"{self.price:,.2f} {self.currency}"

    @property
    def duration_display(self) -> str:
        if self.duration is None:
            return ""
        minutes = int(self.duration.total_seconds() // 60)
        hours, minutes = divmod(minutes, 60)
        parts = [f"{hours} h"] if hours else []
        if minutes or not hours:
            parts.append(f"{minutes} min")
        return " ".join(parts)


class NavigationHelp(models.Model):
    """What a visitor can do on pages whose path matches `url_pattern` (a glob: `/telemetry/*`)."""

    url_pattern = models.CharField(max_length=300, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(help_text="What a visitor can do there (Markdown).")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["url_pattern"]
        verbose_name_plural = "navigation help"

    def __str__(self) -> str:
        return f"{self.url_pattern}: {self.title}"


class KnowledgeBaseEntry(models.Model):
    """One help-center answer. `source` + `external_id` identify it across imports.

    `embedding` (float32 bytes) and `search_vector` (PostgreSQL only) are search data that the
    services keep in step with the text; never edit them by hand.
    """

    source = models.CharField(
        max_length=50, blank=True, db_index=True, help_text="Import set, e.g. helpcenter."
    )
    external_id = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=100, blank=True, db_index=True)
    title = models.CharField(max_length=300)
    body = models.TextField(help_text="Markdown.")
    keywords = models.CharField(max_length=500, blank=True, help_text="Comma-separated.")
    url = models.CharField(
        max_length=500, blank=True, help_text="Path or URL of the page this entry is about."
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="entries"
    )
    attribution = models.CharField(
        max_length=300, blank=True, help_text="Credit shown wherever the entry is shown."
    )
    is_active = models.BooleanField(default=True)
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    embedding = models.BinaryField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=100, blank=True, editable=False)
    search_vector = SearchVectorField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["category", "title", "pk"]
        verbose_name = "knowledge-base entry"
        verbose_name_plural = "knowledge-base entries"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="knowledge_entry_unique_external_id",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def page_url(self) -> str:
        """`url` when it is a site path or an http(s) link, else "" (never a script URL)."""
        url = self.url.strip()
        return url if url.startswith(("/", "https://", "http://")) else ""

    @property
    def keyword_list(self) -> list[str]:
        return [k.strip() for k in self.keywords.split(",") if k.strip()]
