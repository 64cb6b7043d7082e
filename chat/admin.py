from django.contrib import admin

from chat.models import ChatMessage, ChatSession


class ChatMessageInline(admin.TabularInline):
    model = ChatMessage
    extra = 0
    fields = ("created_at", "role", "status", "text", "output_tokens", "ttft_ms", "cached")
    readonly_fields = fields
    show_change_link = True
    can_delete = False


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "user",
        "visitor_key",
        "universe",
        "status",
        "provider",
        "model",
        "rating",
        "escalated",
        "last_activity_at",
    )
    list_filter = ("status", "universe", "provider", "escalated", "rating", "pinned")
    search_fields = ("id", "title", "user__username", "user__email", "visitor_key")
    date_hierarchy = "last_activity_at"
    readonly_fields = ("id", "created_at", "updated_at", "last_activity_at")
    raw_id_fields = ("user",)
    inlines = [ChatMessageInline]


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "session",
        "role",
        "status",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "ttft_ms",
        "total_ms",
        "cached",
    )
    list_filter = ("role", "status", "provider", "cached", "pinned", "error_code")
    search_fields = ("id", "text", "client_id", "session__id", "error")
    date_hierarchy = "created_at"
    readonly_fields = ("id", "created_at", "finished_at")
    raw_id_fields = ("session", "reply_to")
    list_select_related = ("session",)
