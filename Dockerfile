# fnqueue: one image for the api and the worker (compose.yaml picks the command).
# The service runs its TypeScript through tsx, so there is no build step and the dev
# dependencies (tsx among them) are installed too.
FROM node:20-bookworm-slim

WORKDIR /app

# swagger-ui-dist's install-time analytics would try to reach the network.
ENV SCARF_ANALYTICS=false

# User functions (docs/functions.md): python3 and pip for the python runtime, bubblewrap for the
# sandbox, util-linux for prlimit and setpriv. Under Docker's default seccomp and AppArmor profiles
# bubblewrap cannot create its namespaces, and the worker then refuses every function run (unless
# FUNCTION_SANDBOX=off): compose.yaml gives the workers the settings it needs
# (docs/deployment.md, "The function sandbox in a container").
# /var/lib/fnqueue: the workers' DATA_DIR and FUNCTIONS_DIR (dependency installs), owned by node,
# so a named volume mounted there starts out writable by the service.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-pip bubblewrap util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o node -g node -m 0700 /var/lib/fnqueue

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
