from django.contrib import admin, messages
from django.utils.html import format_html

from knowledge import services
from knowledge.markdown import render_markdown
from knowledge.models import KnowledgeBaseEntry, NavigationHelp, Service


@admin.register(KnowledgeBaseEntry)
class KnowledgeBaseEntryAdmin(admin.ModelAdmin):
    list_display = ("title", "category", "source", "service", "is_active", "updated_at")
    list_filter = ("is_active", "source", "category", "service")
    search_fields = ("title", "body", "keywords", "external_id")
    list_select_related = ("service",)
    readonly_fields = ("preview", "search_data", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("title", "category", "body", "preview")}),
        ("Where it belongs", {"fields": ("keywords", "url", "service", "is_active")}),
        ("Origin", {"fields": ("source", "external_id", "attribution")}),
        (
            "Search",
            {"classes": ("collapse",), "fields": ("search_data", "created_at", "updated_at")},
        ),
    )
    actions = ("activate", "deactivate")

    @admin.display(description="Preview")
    def preview(self, obj):
        if not obj or not obj.body:
            return "Save to see the rendered body."
        return format_html('<div class="kb-preview">{}</div>', render_markdown(obj.body))

    @admin.display(description="Search data")
    def search_data(self, obj):
        if not obj or not obj.pk:
            return "-"
        vector = f"vector ({obj.embedding_model})" if obj.embedding else "no vector yet"
        return vector

    def save_model(self, request, obj, form, change):
        services.entry_save(entry=obj)

    @admin.action(description="Activate selected entries")
    def activate(self, request, queryset):
        count = services.entries_set_active(
            ids=list(queryset.values_list("pk", flat=True)), active=True
        )
        self.message_user(request, f"{count} entries activated.", messages.SUCCESS)

    @admin.action(description="Deactivate selected entries")
    def deactivate(self, request, queryset):
        count = services.entries_set_active(
            ids=list(queryset.values_list("pk", flat=True)), active=False
        )
        self.message_user(request, f"{count} entries deactivated.", messages.SUCCESS)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "price",
        "currency",
        "duration",
        "availability",
        "is_active",
        "position",
    )
    list_filter = ("is_active", "currency")
    list_editable = ("position",)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("preview",)

    @admin.display(description="Preview")
    def preview(self, obj):
        return render_markdown(obj.description) if obj and obj.description else "-"


@admin.register(NavigationHelp)
class NavigationHelpAdmin(admin.ModelAdmin):
    list_display = ("url_pattern", "title", "is_active", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("url_pattern", "title", "description")
    readonly_fields = ("preview",)

    @admin.display(description="Preview")
    def preview(self, obj):
        return render_markdown(obj.description) if obj and obj.description else "-"
