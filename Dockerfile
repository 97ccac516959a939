# vedette: news and flight alerts, posted once to Telegram. README.md, "Deployment", explains
# how to run it (env file for the token, the /data volume, your own /config, compose).
#
#   docker build -t vedette .
#   docker run -d --name vedette --init --env-file vedette.env -v vedette-data:/data vedette
#
# Any Debian-like image with python3 (>= 3.11) and its venv module works as the base, e.g.
# --build-arg BASE_IMAGE=python:3.12-slim@sha256:… to pin the default by digest.
ARG BASE_IMAGE=python:3.12-slim

# ---- build: a virtualenv holding exactly the pinned dependencies, then vedette itself ----
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Dependencies first, in their own layer, from hash-pinned lock files: a code change does not
# reinstall them. /opt/build (a pinned pip and setuptools) is only used here; /opt/venv, the
# runtime virtualenv, gets nothing but the lock file's packages and vedette.
COPY .docker/requirements.txt .docker/build-requirements.txt /src/.docker/
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
        -r .docker/build-requirements.txt \
 && python -m venv --without-pip /opt/venv \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-cache-dir \
        --require-hashes --only-binary=:all: -r .docker/requirements.txt
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY watchers /src/watchers
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation \
        --wheel-dir /tmp/wheels . \
 && /opt/build/bin/pip --python /opt/venv/bin/python install --no-cache-dir --no-deps \
        /tmp/wheels/vedette-*.whl \
 && /opt/venv/bin/python -m pip check \
 && /opt/venv/bin/python -m compileall -q -f --invalidation-mode unchecked-hash /opt/venv/lib

# ---- runtime: the virtualenv, the example rules, a non-root user ----
FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="vedette" \
      org.opencontainers.image.description="News and flight alerts, posted once to Telegram" \
      org.opencontainers.image.licenses="MIT"
# No secrets here: TELEGRAM_BOT_TOKEN (or TELEGRAM_BOT_TOKEN_FILE) and OPENSKY_* come at run
# time. VEDETTE_CONFIG points at /config/rules.toml: the shipped example unless a directory is
# mounted on /config. The database, its -wal and -shm live on the /data volume.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VEDETTE_CONFIG=/config/rules.toml \
    VEDETTE_DB=/data/vedette.db
RUN groupadd --gid 10001 vedette \
 && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin vedette \
 && mkdir -p /config /data \
 && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
# The shipped example comes from the installed package (what `pip install` users get), so a
# wheel without it fails here.
RUN vedette init /config/rules.toml \
 && vedette check
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# Fails when the bot's loop stops writing its heartbeat (every 30 s) into the database for
# more than 2 minutes; reads the database only, never calls Telegram.
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["vedette", "healthcheck"]
# Exec form, no shell: SIGTERM from `docker stop` reaches vedette, which stops cleanly. Run
# with --init (compose: init: true) for a reaping PID 1. `docker run IMAGE vedette status`
# and the like replace this command.
CMD ["vedette", "run"]
