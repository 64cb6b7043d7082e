"""The analytics pages of the admin site: the dashboard, knowledge gaps, weekly reports.

Declarative; the dashboard's numbers come from analytics/selectors, its views from
analytics/views.py. Everything here needs the `analytics.view_dashboard` permission (or the
model's own admin permissions).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from analytics import views
from analytics.models import Dashboard, GapGroup, GapQuestion, WeeklyReport
from analytics.services.gaps import gap_groups_reopen, gap_groups_resolve


def _can_view(request) -> bool:
    return request.user.is_active and request.user.is_staff and request.user.has_perm(
        views.PERMISSION
    )


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """The dashboard page: its changelist URL is the dashboard, linked from the admin index."""

    def has_view_permission(self, request, obj=None) -> bool:
        return _can_view(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "export/<str:kind>.csv",
                self.admin_site.admin_view(views.export_view),
                name=f"{prefix}_export",
            ),
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name=f"{prefix}_changelist",
            ),
        ]

    def changelist_view(self, request, extra_context=None):
        return views.dashboard_view(request, admin_site=self.admin_site)


class GapStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved"), ("all", "All")]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": (self.value() or "open") == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or "open"
        if value == "open":
            return queryset.filter(resolved_at__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class GapQuestionInline(admin.TabularInline):
    model = GapQuestion
    extra = 0
    fields = ("asked_at", "question", "reason", "conversation")
    readonly_fields = fields
    can_delete = False
    max_num = 0
    ordering = ("-asked_at",)

    @admin.display(description="conversation")
    def conversation(self, obj):
        url = reverse("admin:chat_chatsession_change", args=[obj.session_id])
        return format_html('<a href="{}">{}</a>', url, str(obj.session_id)[:8])


@admin.register(GapGroup)
class GapGroupAdmin(admin.ModelAdmin):
    """Knowledge gaps: what visitors asked that the help center did not answer."""

    list_display = ("question", "count", "last_asked_at", "first_asked_at", "status",
                    "conversations")  # fmt: skip
    list_filter = (GapStatusFilter, "synthetic")
    search_fields = ("question", "questions__question")
    date_hierarchy = "last_asked_at"
    ordering = ("-count", "-last_asked_at")
    actions = ["mark_resolved", "reopen"]
    fields = ("question", "count", "first_asked_at", "last_asked_at", "resolved_at",
              "resolved_by", "synthetic")  # fmt: skip
    readonly_fields = fields
    inlines = [GapQuestionInline]

    def has_view_permission(self, request, obj=None) -> bool:
        return _can_view(request) or super().has_view_permission(request, obj)

    def has_resolve_permission(self, request) -> bool:
        return _can_view(request) or super().has_change_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def status(self, obj):
        return f"resolved by {obj.resolved_by}" if obj.resolved_at else "open"

    @admin.display(description="conversations")
    def conversations(self, obj):
        ids = list(obj.questions.values_list("session_id", flat=True)[:100])
        url = reverse("admin:chat_chatsession_changelist")
        query = urlencode({"id__in": ",".join(str(i) for i in ids)})
        return format_html('<a href="{}?{}">{} conversations</a>', url, query, len(set(ids)))

    @admin.action(description="Mark resolved (an entry now covers it)", permissions=["resolve"])
    def mark_resolved(self, request, queryset):
        changed = gap_groups_resolve(group_ids=queryset.values_list("pk", flat=True),
                                     by=request.user.get_username())  # fmt: skip
        self.message_user(request, f"{changed} gap(s) marked resolved.", messages.SUCCESS)

    @admin.action(description="Reopen", permissions=["resolve"])
    def reopen(self, request, queryset):
        changed = gap_groups_reopen(group_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{changed} gap(s) reopened.", messages.SUCCESS)


@admin.register(WeeklyReport)
class WeeklyReportAdmin(admin.ModelAdmin):
    list_display = ("week", "created_at")
    fields = ("week", "created_at", "report")
    readonly_fields = fields

    def has_view_permission(self, request, obj=None) -> bool:
        return _can_view(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="report")
    def report(self, obj):
        return render_to_string("analytics/report_body.html", {"report": obj.data})
