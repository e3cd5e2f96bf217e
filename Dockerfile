# Three targets from one file (docker compose builds each by `target`):
#   api         FastAPI + the migrations + the dashboard; no TensorFlow
#   worker      the Celery worker on CPU (tensorflow-cpu)
#   worker-gpu  the Celery worker on an NVIDIA GPU: `tensorflow[and-cuda]` brings its own CUDA and
#               cuDNN wheels, so the base stays python:3.11-slim (no second CUDA underneath);
#               the host needs the NVIDIA driver and the NVIDIA Container Toolkit.
# Dependencies are installed from pyproject.toml before the source is copied, so a code change
# rebuilds only the last layers, never TensorFlow. Plain Dockerfile syntax (no heredoc, no
# `# syntax=` frontend): the legacy builder and Compose v1 build it as BuildKit does.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KERAS_HOME=/data/keras
WORKDIR /app
# /data/credentials: where compose's `migrate` writes the first key and the operator token (a
# named volume takes this folder's owner, so the unprivileged user can write there).
RUN useradd --create-home lrlab \
    && mkdir -p /data/checkpoints /data/keras /data/credentials \
    && chown lrlab /data/checkpoints /data/keras /data/credentials
# The project's dependencies (plus one extra), read from pyproject.toml: this layer changes only
# when they do.
COPY pyproject.toml ./
COPY docker/install-deps.py /usr/local/lib/lrlab/install-deps.py

# The dashboard's chart library, as pinned in ui/package-lock.json (what `make install` runs).
FROM node:20-slim AS ui
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM base AS source
COPY README.md alembic.ini ./
COPY api ./api
COPY models ./models
COPY worker ./worker
COPY migrations ./migrations
COPY lrlab_client ./lrlab_client
COPY docker/worker-healthcheck.py ./docker/
# The dashboard at /ui/: its modules and uPlot (the API starts without uPlot, but the
# dashboard's charts would then answer 404, see api/routes/ui.py).
COPY ui/static ./ui/static
COPY --from=ui /ui/node_modules/uplot/dist ./ui/node_modules/uplot/dist

FROM base AS api
RUN python /usr/local/lib/lrlab/install-deps.py
COPY --from=source /app /app
RUN pip install --no-deps .
USER lrlab
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --retries=20 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"LRLAB_PORT\", \"8000\")}/readyz')"
CMD ["sh", "-c", "exec uvicorn api.main:app --host 0.0.0.0 --port ${LRLAB_PORT:-8000} --timeout-keep-alive 5 --limit-concurrency 1000 --workers ${LRLAB_API_WORKERS:-2}"]

FROM base AS worker
# Fashion-MNIST's IDX files from Debian (/usr/share/datasets/fashion-mnist), read by the worker.
RUN apt-get update && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
RUN python /usr/local/lib/lrlab/install-deps.py worker
COPY --from=source /app /app
RUN pip install --no-deps .
USER lrlab
# Healthy once its heartbeat is published and its dataset loaded (the first start downloads
# MNIST: allow for it).
HEALTHCHECK --interval=10s --timeout=5s --start-period=5m --retries=3 \
    CMD ["python", "docker/worker-healthcheck.py"]
CMD ["sh", "-c", "exec celery -A worker.celery_app worker -Q ${LRLAB_QUEUE:-lrlab} --loglevel INFO"]

FROM base AS worker-gpu
# Fashion-MNIST's IDX files from Debian (/usr/share/datasets/fashion-mnist), read by the worker.
RUN apt-get update && apt-get install -y --no-install-recommends dataset-fashion-mnist \
    && rm -rf /var/lib/apt/lists/*
RUN python /usr/local/lib/lrlab/install-deps.py worker-gpu
COPY --from=source /app /app
RUN pip install --no-deps .
USER lrlab
HEALTHCHECK --interval=10s --timeout=5s --start-period=5m --retries=3 \
    CMD ["python", "docker/worker-healthcheck.py"]
ENV LRLAB_QUEUE=gpu
CMD ["sh", "-c", "exec celery -A worker.celery_app worker -Q ${LRLAB_QUEUE:-gpu} --loglevel INFO"]
