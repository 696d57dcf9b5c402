# syntax=docker/dockerfile:1
# One image for every role: the API (default CMD), `fuze worker`, `fuze migrate`.

# --- web app ----------------------------------------------------------------
FROM node:20-slim AS frontend
WORKDIR /frontend
# `fronten[d]` is a wildcard so the build still works before frontend/ exists;
# pyproject.toml is only there so that COPY always has one match.
COPY pyproject.toml fronten[d] ./
RUN if [ -f package.json ]; then \
        if [ -f package-lock.json ]; then npm ci; else npm install; fi && npm run build; \
    else \
        mkdir -p dist; \
    fi

# --- Python environment -----------------------------------------------------
FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# The PyPI torch wheel is the CUDA build (GBs of nvidia-* wheels); the CPU one
# satisfies the same `torch==2.13.0` pin.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /srv/fuze
COPY pyproject.toml ./
# Dependencies in their own layer, so a code change does not reinstall them.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt
COPY README.md ./
COPY app/ app/
COPY workers/ workers/
# Editable on purpose: app/ finds alembic/ and frontend/dist relative to its own
# source folder, so it must be imported from /srv/fuze, not site-packages.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps -e . && pip check

# --- runtime ----------------------------------------------------------------
FROM python:3.11-slim-bookworm
ENV FUZE_ENV=production \
    FUZE_DATA_DIR=/var/lib/fuze \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 fuze \
    && useradd --system --uid 10001 --gid fuze --create-home --home-dir /home/fuze \
        --shell /usr/sbin/nologin fuze \
    && install -d -o fuze -g fuze /var/lib/fuze
COPY --from=builder /opt/venv /opt/venv
WORKDIR /srv/fuze
COPY pyproject.toml README.md alembic.ini ./
COPY alembic/ alembic/
COPY workers/ workers/
COPY app/ app/
COPY --from=frontend /frontend/dist frontend/dist
# Code stays root-owned (read-only to the app), so compile bytecode now.
RUN python -m compileall -q app workers alembic

USER fuze
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]
CMD ["fuze", "api", "--host", "0.0.0.0", "--port", "8000"]
