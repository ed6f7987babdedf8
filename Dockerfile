# livesync server image. Functions and data are mounted at run time:
#   docker build -t livesync .
#   docker run -p 3210:3210 -v "$PWD/data:/app/data" livesync
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY protocol ./protocol
COPY server ./server
COPY client ./client
RUN pip install --no-cache-dir .

COPY config.toml ./
COPY examples/chat ./examples/chat

ENV LIVESYNC_HOST=0.0.0.0
EXPOSE 3210
CMD ["livesync", "serve", "--config", "config.toml"]
