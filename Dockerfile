# fnqueue: one image for the api and the worker (compose.yaml builds it once and picks the
# command). The build stage compiles the TypeScript to plain JavaScript in dist/ (npm run build);
# the final stage holds dist/ and the production dependencies only: no tsx, no TypeScript, no
# test tools. Runs as `node dist/api/main.js` or `node dist/worker/main.js`.

FROM node:24-bookworm-slim AS build
WORKDIR /app
# swagger-ui-dist's install-time analytics would try to reach the network.
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --include=dev --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared/ shared/
COPY api/ api/
COPY worker/ worker/
COPY scripts/ scripts/
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim

WORKDIR /app

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

# The files stay root-owned (read-only for the service).
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/

# NODE_OPTIONS: a young generation of at most 2 × 8 MB (Node 24 grows it to 2 × 64 MB under load),
# for the API's 150 MB bound; a worker's command (compose.yaml, the Kubernetes worker Deployment)
# raises it to 2 × 32 MB, where scavenges cost a worker less CPU and its RSS stays far from 200 MB;
# a 1 GB old generation, below which V8 lets it grow to at most about 2.5× its live size before a
# mark-compact (with Node's default limit here, 4 GB, up to 4×: the API's garbage of batches).
# MALLOC_ARENA_MAX: glibc's malloc keeps at most 2 arenas rather than one per thread, whose pages
# V8's compiler and GC threads leave resident (about 10 MB). The benchmark runs the compiled build
# with the same settings (scripts/bench/fnqueue-stack.ts): the API at about 125 MB at rest and 150
# to 175 MB under load, a worker at 120 to 135 MB (docs/performance.md#what-bounds-each-figure, Memory).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=1024" \
    MALLOC_ARENA_MAX=2 \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKER_PORT=9100

USER node

# 8000: the API (PORT). 9100: a worker's own /healthz and /metrics (WORKER_PORT).
EXPOSE 8000 9100

# One check for both roles: the API's readiness on PORT or the worker's liveness on WORKER_PORT,
# whichever this container runs (scripts/healthcheck.ts). Shell form, so the ports follow the env.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD node dist/scripts/healthcheck.js "http://127.0.0.1:${PORT}/readyz" "http://127.0.0.1:${WORKER_PORT}/healthz"

CMD ["node", "dist/api/main.js"]
