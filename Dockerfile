# Lapor Aman: `lapor serve` as an unprivileged user. Data (SQLite, state) under /data.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY api ./api
COPY bot ./bot
COPY flows ./flows
COPY storage ./storage
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LAPOR_DATABASE_URL=sqlite:////data/lapor.db \
    LAPOR_STATE_DIR=/data/state
COPY --from=build /install /usr/local
RUN groupadd --system lapor && useradd --system --gid lapor --home-dir /data --no-create-home lapor \
    && mkdir -p /data && chown lapor:lapor /data
USER lapor
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["lapor", "serve", "--host", "0.0.0.0", "--port", "8000"]
