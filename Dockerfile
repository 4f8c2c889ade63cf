# fnqueue: one image for the api and the worker (compose.yaml picks the command).
# The service runs its TypeScript through tsx, so there is no build step and the dev
# dependencies (tsx among them) are installed too.
FROM node:20-bookworm-slim

WORKDIR /app

# swagger-ui-dist's install-time analytics would try to reach the network.
ENV SCARF_ANALYTICS=false

# User functions (issue 3): python3 and pip for the python runtime, bubblewrap for the sandbox,
# util-linux for prlimit and setpriv. Under Docker's default seccomp profile an unprivileged
# bubblewrap cannot create its namespaces: the worker then says at start that functions run
# without isolation (FUNCTION_SANDBOX=bwrap makes runs fail instead).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip bubblewrap util-linux \
 && rm -rf /var/lib/apt/lists/*

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
