# Pagero reference client. Build:  docker build -t pagero-client .
# Run:   docker run -p 5000:5000 --env-file .env pagero-client
# Configuration comes only from the environment (see README, "Configuration").

# --- build stage: wheels for the pinned requirements ---------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
# Requirements first, alone: this layer is rebuilt only when they change.
COPY requirements.txt .
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile -r requirements.txt

# --- final stage: no compilers, no pip cache, non-root ---------------------------
FROM python:3.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PAGERO_ENV=production \
    APP_PORT=5000 \
    INSTANCE_PATH=/var/lib/pagero-client
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin pagero \
 && install -d -o pagero -g pagero -m 0700 /var/lib/pagero-client
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root app/ app/
COPY --chown=root:root config/ config/
COPY --chown=root:root templates/ templates/
COPY --chown=root:root static/ static/
COPY --chown=root:root wsgi.py .
USER pagero
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ.get('APP_PORT', '5000'), timeout=2)"]
# The same command `make demo` and tests/test_gunicorn.py run.
CMD ["gunicorn", "-c", "config/gunicorn.py", "wsgi:app"]
