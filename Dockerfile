# One image for the API, the worker and the migrate job.
# BASE=tensorflow/tensorflow:2.21.0-gpu with EXTRAS=worker-gpu builds the GPU worker image.
ARG BASE=python:3.11-slim
FROM ${BASE}
ARG EXTRAS=worker
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY models ./models
COPY worker ./worker
COPY migrations ./migrations
COPY lrlab_client ./lrlab_client
COPY alembic.ini ./
RUN pip install ".[${EXTRAS}]"
RUN useradd --create-home lrlab && mkdir -p /data/checkpoints && chown lrlab /data/checkpoints
USER lrlab
EXPOSE 8000
CMD ["sh", "-c", "uvicorn api.main:app --host 0.0.0.0 --port ${LRLAB_PORT:-8000}"]
