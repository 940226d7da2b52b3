# brownout's image. From the repository root: docker build -t brownout .
#   docker run --rm -p 8080:8080 -p 9180:9180 -e BROWNOUT_ADMIN_TOKEN=$(openssl rand -hex 16) brownout
# The admin port (/metrics, /healthz, the control API) binds 0.0.0.0 in the container, so brownout
# requires an admin token (BROWNOUT_ADMIN_TOKEN or --admin-token): /api/ calls need it, /metrics
# and /healthz stay open for Prometheus and health checks.
FROM python:3.13-slim-bookworm

# uv installs exactly what uv.lock says; the same uv release that wrote the lock.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PROJECT_ENVIRONMENT=/opt/brownout/.venv \
    PYTHONUNBUFFERED=1

WORKDIR /opt/brownout

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY addons ./addons
COPY scenarios ./scenarios
RUN uv sync --frozen --no-dev

# mitmproxy keeps its CA in ~/.mitmproxy (forward-proxy mode); the user needs a writable home.
RUN useradd --system --create-home --home-dir /home/brownout --uid 10001 brownout
USER 10001
ENV PATH="/opt/brownout/.venv/bin:${PATH}" \
    HOME=/home/brownout

EXPOSE 8080 9180
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9180/healthz', timeout=2)"]

ENTRYPOINT ["brownout"]
CMD ["run", "--listen-host", "0.0.0.0", "--admin-host", "0.0.0.0"]
