# syntax=docker/dockerfile:1
# The Clima image: one image for every Clima process (`clima api|proxy|writer|consumer ...`,
# the entrypoint) and for the operator (`clima-operator`, which the chart sets as command).
#   tools/dev/images.sh build            # docker, podman or buildah
#   tools/dev/images.sh push             # to $REGISTRY (default 127.0.0.1:5000)
# PYTHON_IMAGE: any Debian-based image whose `python` and `pip` are Python 3.11 (the local
# node builds one from Debian's packages: tools/node/images/debian-python.Containerfile).
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: wheels of exactly the locked dependencies, and the clima wheel -------------
FROM ${PYTHON_IMAGE} AS builder
# Behind a TLS-intercepting proxy, mount the host's CA bundle for the build and name it here
# (tools/node/images.sh does: --volume /etc/ssl/certs:/host-certs:ro
# --build-arg PIP_CERT=/host-certs/ca-certificates.crt); it never becomes part of an image.
ARG PIP_CERT
# the same uv as tools/dev/venv.sh: it only reads uv.lock here, it resolves nothing
ARG UV_VERSION=0.13.8
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# pyproject.toml names README.md as the package's readme and puts the dashboard into the
# wheel (the local view serves it); uv.lock is the one list of versions, with their hashes.
COPY pyproject.toml uv.lock README.md ./
COPY services ./services
COPY operator ./operator
COPY dashboards ./dashboards
# The runtime dependencies of uv.lock (no dev extra), each pinned with its hashes; pip checks
# every download against them. Then the clima wheel itself, without resolving anything.
RUN if [ -z "${PIP_CERT:-}" ]; then unset PIP_CERT; fi \
 && python -m venv /uv && /uv/bin/pip install -q "uv==${UV_VERSION}" \
 && /uv/bin/uv export --frozen --no-emit-project --no-header --format requirements-txt \
        --output-file /src/requirements.txt \
 && pip wheel --require-hashes --no-deps --wheel-dir /wheels -r /src/requirements.txt \
 && pip wheel --no-deps --wheel-dir /wheels .

# --- runtime: only the installed wheels, run as uid 10001 ---------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="clima" \
      org.opencontainers.image.description="Clima: api, proxy, writer, consumers and operator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# The wheels are bind-mounted from the builder, so they never become a layer of this image;
# --no-deps: the builder's wheels are the whole locked set, nothing is resolved here.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --no-deps /wheels/*.whl \
 && pip check \
 && groupadd --system --gid 10001 clima \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin clima
# Numeric, so that Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# api 8080, proxy 8081 and 50052, writer 50051, operator liveness 8080 and metrics 9090
EXPOSE 8080 8081 50051 50052 9090
ENTRYPOINT ["clima"]
CMD ["--help"]
