# One image for every role; the role is the command (`slamon worker`, `slamon api`, ...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY models ./models
COPY scheduler ./scheduler
COPY worker ./worker
COPY api ./api
COPY slamon ./slamon
RUN pip install . && useradd --system --home /app slamon

USER slamon
ENV SLAMON_HOME=/app/.slamon
CMD ["slamon", "--help"]
