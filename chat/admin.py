from django.contrib import admin
from django.core.exceptions import PermissionDenied

from chat.models import ChatMessage, ChatSession
from chat.operator import admin as operator_admin  # noqa: F401  (assistant settings, model manager)
from chat.operator.retention import conversations_delete


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

    # A transcript is a record: staff read it, never edit what a visitor or the model said.
    # Deleting a conversation (delete view or the "delete selected" action) is logged: Django's
    # LogEntry, plus one structlog line from conversations_delete (images removed too).
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj) -> None:
        conversations_delete(
            queryset=ChatSession.objects.filter(pk=obj.pk), reason="admin", user_id=request.user.pk
        )

    def delete_queryset(self, request, queryset) -> None:
        conversations_delete(queryset=queryset, reason="admin", user_id=request.user.pk)


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

    # Read-only: messages go only with their conversation (a logged deletion). The delete
    # permission itself stays, as deleting a conversation checks it for the messages it removes.
    actions = None

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "show_delete": False}
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        raise PermissionDenied("Delete the conversation instead (that deletion is logged).")
