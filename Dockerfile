# syntax=docker/dockerfile:1
# One image for every Xieshang target; what a container runs is chosen by its command
# (`run --target gateway|intake-api|intake-worker|...|all`, `db upgrade`, ...).

# --- build stage: install the package and its dependencies into a virtualenv -------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first (cached layer): install the project with an empty package, then drop it.
COPY pyproject.toml README.md ./
RUN mkdir xieshang && pip install . && pip uninstall -y xieshang && rm -rf xieshang build *.egg-info

# The code itself.
COPY shared ./shared
COPY services ./services
COPY gateway ./gateway
COPY xieshang ./xieshang
RUN pip install --no-deps .

# --- runtime stage ------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    XIESHANG_HOST=0.0.0.0 \
    PORT=8080 \
    XIESHANG_DATA_DIR=/var/lib/xieshang \
    XIESHANG_JWT_KEYS_DIR=/var/lib/xieshang/keys

# Non-root user with a fixed numeric id (Kubernetes runAsNonRoot needs a numeric USER).
# /var/lib/xieshang/keys is pre-created so a named volume mounted there inherits the ownership.
RUN groupadd --system --gid 10001 xieshang \
 && useradd --system --uid 10001 --gid xieshang --home-dir /var/lib/xieshang \
            --no-create-home --shell /usr/sbin/nologin xieshang \
 && mkdir -p /var/lib/xieshang/keys /tmp/prometheus \
 && chown -R xieshang:xieshang /var/lib/xieshang /tmp/prometheus

COPY --from=build /opt/venv /opt/venv

WORKDIR /var/lib/xieshang
USER 10001:10001
EXPOSE 8080

ENTRYPOINT ["xieshang"]
CMD ["run", "--target", "all"]
