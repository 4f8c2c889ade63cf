# fnqueue: one image for the api and the worker (compose.yaml picks the command).
# The service runs its TypeScript through tsx, so there is no build step and the dev
# dependencies (tsx among them) are installed too.
FROM node:20-bookworm-slim

WORKDIR /app

# swagger-ui-dist's install-time analytics would try to reach the network.
ENV SCARF_ANALYTICS=false

COPY package.json package-lock.json ./
RUN npm ci --include=dev --no-audit --no-fund && npm cache clean --force

COPY tsconfig.json ./
COPY shared/ shared/
COPY api/ api/
COPY worker/ worker/
COPY scripts/ scripts/

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKER_PORT=9100

# The files stay root-owned (read-only for the service); tsx caches in /tmp.
USER node

# 8000: the API (PORT). 9100: a worker's own /healthz and /metrics (WORKER_PORT).
EXPOSE 8000 9100

CMD ["node", "--import", "tsx", "api/main.ts"]
