"""Writes. Each function changes rows for one purpose, atomically where several change.

`sessions` writes conversations; `messages` writes a question and its reply (an exchange) and
everything that finishes, replaces or settles a reply. Callers use `chat.services.<name>`.
"""

from chat.services.messages import (
    NO_QUESTION,
    Exchange,
    amessage_interrupt_orphan,
    areply_store,
    exchange_begin,
    exchange_previous,
    message_delete,
    message_finish,
    message_interrupt_orphan,
    message_update,
    messages_reap_stale,
    replies_supersede,
    reply_regenerate,
    reply_store,
)
from chat.services.sessions import (
    TITLE_LENGTH,
    asession_open,
    asession_rate,
    session_choose_model,
    session_create,
    session_delete,
    session_escalate,
    session_new,
    session_open,
    session_rate,
    session_title_set,
    session_update,
    sessions_adopt,
    title_from_words,
)

__all__ = [
    "Exchange",
    "NO_QUESTION",
    "TITLE_LENGTH",
    "amessage_interrupt_orphan",
    "areply_store",
    "asession_open",
    "asession_rate",
    "exchange_begin",
    "exchange_previous",
    "message_delete",
    "message_finish",
    "message_interrupt_orphan",
    "message_update",
    "messages_reap_stale",
    "replies_supersede",
    "reply_regenerate",
    "reply_store",
    "session_choose_model",
    "session_create",
    "session_delete",
    "session_escalate",
    "session_new",
    "session_open",
    "session_rate",
    "session_title_set",
    "session_update",
    "sessions_adopt",
    "title_from_words",
]
