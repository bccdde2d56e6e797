# syntax=docker/dockerfile:1
# One image for every Xieshang run target; the command chooses what a container runs
# (`run --target gateway|intake-api|intake-worker|...|all`, `db upgrade`, ...). Kannel, Prometheus,
# Grafana, RabbitMQ and PostgreSQL run from their own images (docker-compose.yml, k8s/).
ARG PYTHON=python:3.11.14-slim-bookworm

# --- build: the package and its dependencies in a virtualenv -------------------------------------
FROM ${PYTHON} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first (a layer cached until pyproject.toml changes): the project with an empty
# package, then the package dropped again.
COPY pyproject.toml README.md ./
RUN mkdir xieshang && pip install . && pip uninstall -y xieshang && rm -rf xieshang build *.egg-info

# The code: every package pyproject.toml ships.
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
COPY web ./web
COPY xieshang ./xieshang
RUN pip install --no-deps . \
 && pip uninstall -y pip setuptools wheel || true

# --- runtime: the virtualenv on the same slim Python, no compiler, no pip ----------------------
FROM ${PYTHON}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XIESHANG_HOST=0.0.0.0 \
    PORT=8080 \
    XIESHANG_DATA_DIR=/var/lib/xieshang

# A non-root user with a fixed numeric id (Kubernetes' runAsNonRoot needs a numeric USER); the data
# directory and its keys/ exist so a volume mounted there takes their ownership.
RUN python -m pip uninstall -y pip setuptools wheel || true \
 && groupadd --system --gid 10001 xieshang \
 && useradd --system --uid 10001 --gid xieshang --home-dir /var/lib/xieshang \
            --no-create-home --shell /usr/sbin/nologin xieshang \
 && mkdir -p /var/lib/xieshang/keys /tmp/prometheus \
 && chown -R xieshang:xieshang /var/lib/xieshang /tmp/prometheus

COPY --from=build /opt/venv /opt/venv

WORKDIR /var/lib/xieshang
USER 10001:10001
EXPOSE 8080
# Every target serves /healthz on $PORT (workers too); the interpreter asks it, the image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=5 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=3)"]
STOPSIGNAL SIGTERM

ENTRYPOINT ["xieshang"]
CMD ["run", "--target", "all"]
