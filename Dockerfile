# Pagero reference client.
#   docker build -t pagero-client .                     the app (production image)
#   docker build --target sandbox -t pagero-sandbox .   the local Pagero stand-in (demo, QA)
#   docker run -p 5000:5000 --env-file .env pagero-client
# Configuration comes only from the environment (docs/configuration.md).

# --- build stage: the pinned requirements into a virtual environment -------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
# Requirements first, alone: this layer is rebuilt only when they change. Every pinned
# package ships a wheel for this platform, so no compiler is needed even here.
COPY requirements.txt .
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile --only-binary=:all: -r requirements.txt

# --- shared base of both runtime images: no build tools, no pip cache, non-root ----
FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin pagero \
 && install -d -o pagero -g pagero -m 0700 /var/lib/pagero-client
COPY --from=build /opt/venv /opt/venv
WORKDIR /app

# --- the Pagero sandbox (docker-compose uses it; never deploy it) -------------------
FROM runtime AS sandbox
COPY --chown=root:root sandbox/ sandbox/
USER pagero
# The port the sandbox's own URLs name, bound on every interface.
ENV SANDBOX_PORT=5001 \
    SANDBOX_HOST=0.0.0.0
EXPOSE 5001
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5001/oauth/v2/oauth-anonymous/.well-known/openid-configuration', timeout=2)"]
# One process (the sandbox keeps its state in memory), under gevent: calls held by
# SANDBOX_API_DELAY_MS or SANDBOX_TOKEN_DELAY_MS wait without a thread each.
CMD ["python", "-m", "sandbox"]

# --- the app (last, so a plain `docker build` produces it) --------------------------
FROM runtime AS app
ENV PAGERO_ENV=production \
    APP_PORT=5000 \
    INSTANCE_PATH=/var/lib/pagero-client
COPY --chown=root:root pagero_oauth/ pagero_oauth/
COPY --chown=root:root app/ app/
COPY --chown=root:root config/ config/
COPY --chown=root:root templates/ templates/
COPY --chown=root:root static/ static/
COPY --chown=root:root wsgi.py .
USER pagero
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('APP_PORT', '5000'), timeout=2)"]
# The same command `make demo` and the tests run (tests/servers.py reads this line).
CMD ["gunicorn", "-c", "config/gunicorn.py", "wsgi:app"]
