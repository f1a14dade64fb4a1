# Image for the hub processes (web, pipeline, worker, migrate, seed); see docker-compose.yml.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY channels ./channels
COPY web ./web
COPY workers ./workers
RUN pip install . \
 && useradd --system --uid 10001 --no-create-home omnihub

USER omnihub
ENV OMNIHUB_HOST=0.0.0.0 \
    OMNIHUB_PORT=8000
EXPOSE 8000
# SIGTERM stops every command cleanly (uvicorn, the pipeline and arq handle it).
STOPSIGNAL SIGTERM
CMD ["omnihub", "web"]
