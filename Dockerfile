# syntax=docker/dockerfile:1
# callpool: web, scheduler and AMI listener in one image (`callpool serve`).
#
#   docker build -t callpool .
#   docker run --rm -p 8080:8080 callpool            # embedded SQLite in /var/lib/callpool
#
# Settings come from the environment (CALLPOOL_*, see README.md) or a mounted TOML file
# (CALLPOOL_CONFIG); no secret is ever written into the image. docker-compose.yml runs it
# with PostgreSQL and Asterisk; docs/operations.md is the admin's guide.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- 1. the browser code, built from source with the locked esbuild -----------------
# The snippet (web_snippet/) and, where the tree has it, the dashboard's script and
# styles (dashboard_assets/) write their bundles into the package (callpool/.../static/),
# so the wheel stage takes the whole tree from here.
FROM ${NODE_IMAGE} AS assets
WORKDIR /src
COPY . .
RUN for project in web_snippet dashboard_assets; do \
        if [ -f "$project/package-lock.json" ]; then \
            npm ci --prefix "$project" --no-audit --no-fund --loglevel=error \
            && npm run --prefix "$project" --silent build \
            && rm -rf "$project/node_modules" || exit 1; \
        fi; \
    done

# --- 2. the wheel: the package with its migrations and the built browser code -------
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY --from=assets /src /src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- 3. a virtualenv holding the wheel and its dependencies ---------------------------
FROM ${PYTHON_IMAGE} AS venv
COPY --from=wheel /wheels /wheels
RUN python -m venv /opt/callpool \
    && /opt/callpool/bin/pip install --no-cache-dir /wheels/callpool-*.whl \
    && /opt/callpool/bin/callpool --version

# --- 4. the image: the virtualenv on a slim Python, run as an unprivileged user -------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="callpool" \
      org.opencontainers.image.description="Self-hosted call tracking for Asterisk PBX" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later"

RUN groupadd --system --gid 10001 callpool \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/callpool --create-home \
        --shell /usr/sbin/nologin callpool
COPY --from=venv /opt/callpool /opt/callpool

# CALLPOOL_HOST: listen on every interface of the container, not its loopback.
# The journal (the listener's durable event log) and an embedded SQLite database live
# under /var/lib/callpool: mount a volume there.
ENV PATH=/opt/callpool/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CALLPOOL_HOST=0.0.0.0 \
    CALLPOOL_PORT=8080 \
    CALLPOOL_JOURNAL_DIR=/var/lib/callpool/journal
WORKDIR /var/lib/callpool
# By number: a runtime can then check it is not root (Kubernetes' runAsNonRoot).
USER 10001:10001
EXPOSE 8080

# /healthz answers 503 when the database is unreachable or behind the code's schema, or
# a PBX this process listens to is not logged in (a standby process is healthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CALLPOOL_PORT', '8080'), timeout=4)"]

# aiohttp stops on SIGTERM (docker stop) and SIGINT.
CMD ["callpool", "serve"]
