# syntax=docker/dockerfile:1
# Three targets from one file (docker compose builds each by `target`):
#   api         FastAPI + the migrations + the dashboard; no TensorFlow
#   worker      the Celery worker on CPU (tensorflow-cpu)
#   worker-gpu  the Celery worker on an NVIDIA GPU: `tensorflow[and-cuda]` brings its own CUDA and
#               cuDNN wheels, so the base stays python:3.11-slim (no second CUDA underneath);
#               the host needs the NVIDIA driver and the NVIDIA Container Toolkit.
# Dependencies are installed from pyproject.toml before the source is copied, so a code change
# rebuilds only the last layers, never TensorFlow.

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    KERAS_HOME=/data/keras
WORKDIR /app
RUN useradd --create-home lrlab \
    && mkdir -p /data/checkpoints /data/keras \
    && chown lrlab /data/checkpoints /data/keras
COPY pyproject.toml ./
# The project's dependencies (plus one extra), read from pyproject.toml: this layer changes only
# when they do.
RUN cat > /usr/local/bin/install-deps <<'PY' && chmod +x /usr/local/bin/install-deps
#!/usr/local/bin/python
import subprocess, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
wanted = list(project["dependencies"])
for extra in sys.argv[1:]:
    wanted += project["optional-dependencies"][extra]
subprocess.run([sys.executable, "-m", "pip", "install", *wanted], check=True)
PY

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
# The dashboard at /ui/: its modules and uPlot (the API refuses to start without them).
COPY ui/static ./ui/static
COPY --from=ui /ui/node_modules/uplot/dist ./ui/node_modules/uplot/dist

FROM base AS api
RUN install-deps
COPY --from=source /app /app
RUN pip install --no-deps .
USER lrlab
EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=3s --retries=20 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"LRLAB_PORT\", \"8000\")}/readyz')"
CMD ["sh", "-c", "exec uvicorn api.main:app --host 0.0.0.0 --port ${LRLAB_PORT:-8000} --workers ${LRLAB_API_WORKERS:-2}"]

FROM base AS worker
RUN install-deps worker
COPY --from=source /app /app
RUN pip install --no-deps .
USER lrlab
CMD ["sh", "-c", "exec celery -A worker.celery_app worker -Q ${LRLAB_QUEUE:-lrlab} --loglevel INFO"]

FROM base AS worker-gpu
RUN install-deps worker-gpu
COPY --from=source /app /app
RUN pip install --no-deps .
USER lrlab
ENV LRLAB_QUEUE=gpu
CMD ["sh", "-c", "exec celery -A worker.celery_app worker -Q ${LRLAB_QUEUE:-gpu} --loglevel INFO"]
