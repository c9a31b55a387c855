# syntax=docker/dockerfile:1
#
# One image for both processes of the Batch API:
#   API:    node dist/src/start-api.js     (default CMD)
#   worker: node dist/src/start-worker.js  (override the command)
# Both need TEMPORAL_ADDRESS; see temporal-docker/docker-compose.yml for a complete stack.

ARG NODE_IMAGE=node:20-bookworm-slim

##### Build: compile TypeScript and the native better-sqlite3 addon #####
FROM ${NODE_IMAGE} AS build

# better-sqlite3 falls back to node-gyp when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so this layer is cached until the lockfile changes. --ignore-scripts skips the
# package's own postinstall (build + Temporal CLI lookup, not needed with TEMPORAL_ADDRESS) and the
# dependencies' install scripts; the one native addon that needs its script is rebuilt explicitly.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3

# The sources tsconfig.build.json compiles (src, workflows, activities, test/support); .dockerignore
# keeps node_modules, dist and data out, so the installed dependencies above are not overwritten.
COPY . .
RUN npm run build

# Drop devDependencies (typescript, jest, eslint, ...). Everything the processes load at run time,
# including @temporalio/worker and the webpack/swc toolchain it uses to bundle dist/workflows at
# start, is a production dependency.
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund

##### Runtime #####
FROM ${NODE_IMAGE} AS runtime

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data

WORKDIR /app

COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# Application files stay root-owned (read-only to the node user). /data holds the SQLite file and
# blobs; it is created here so a fresh named volume inherits the node user's ownership.
RUN mkdir -p /data && chown node:node /data
VOLUME /data

USER node
EXPOSE 8000

# No image-level HEALTHCHECK: the same image runs the worker, which serves no HTTP. The compose file
# probes the API's /readyz instead.
CMD ["node", "dist/src/start-api.js"]
