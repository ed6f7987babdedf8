# livesync server image. Functions and data are mounted at run time:
#   docker build -t livesync .
#   docker run -p 3210:3210 -v "$PWD/data:/app/data" livesync
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY server ./server
COPY client ./client
RUN pip install --no-cache-dir ".[s3]"

COPY config.toml ./
COPY examples/chat ./examples/chat

# The server never needs root: it runs as an unprivileged user that owns
# only the data folder (mount a volume there for the SQLite file; stored
# files go to data/storage, or to a bucket: MinIO in docker-compose.yml).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin livesync \
    && mkdir -p /app/data/storage && chown -R livesync:livesync /app/data
USER livesync

ENV LIVESYNC_HOST=0.0.0.0
EXPOSE 3210
# /health answers 200 while every essential task runs and 503 otherwise
# (draining, a dead committer); python is in the image, curl is not.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3210/health', timeout=2).status != 200)"]
CMD ["livesync", "serve", "--config", "config.toml"]
