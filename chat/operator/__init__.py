"""The operator's controls: assistant settings in the admin, encrypted keys, local models.

Environment variables stay the defaults (chat/config.py `env_config`); the one
`AssistantSettings` row overlays them (`overlay.apply`, installed as
`settings.CHAT_CONFIG_OVERLAY`) and reaches every server process within about a second, without a
restart: each process keeps the effective values in memory and compares a version stamp in the
Django cache (Redis in production) at most once per `CHAT_CONFIG_CHECK_SECONDS`.

Rooms: `models` (the row), `crypto` (Fernet keys), `services` (writes), `selectors` (reads),
`overlay` (the cheap per-reply read), `forms` and `admin_views` (the admin pages and their JSON
endpoints), `ollama` and `openai_models` (model servers), `probe` (test connection, health),
`retention` (cleanup_chats).
"""
