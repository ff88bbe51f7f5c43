# syntax=docker/dockerfile:1
# Production image: `firehose ingest` (see docs/harness.md). Stages:
#   build   all dependencies, compiled dist/
#   test    build + test sources: the scenario runner of docker-compose.test.yml
#   runtime production dependencies + dist/ only, non-root (the default target)

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY index.ts ./index.ts
COPY consumer ./consumer
COPY testing ./testing
COPY common ./common
COPY protocol ./protocol
COPY client ./client
COPY ingestor ./ingestor
COPY recorder ./recorder
COPY replay ./replay
COPY harness ./harness
COPY fixtures ./fixtures
COPY cli ./cli
COPY bench ./bench
RUN npx tsc -p tsconfig.json

# Runs as root: vitest writes its cache under /app (this stage never ships).
FROM build AS test
COPY vitest.config.ts ./
COPY test ./test
ENTRYPOINT ["npx", "vitest", "run"]
CMD ["test/scenarios"]

FROM build AS prod-deps
RUN npm prune --omit=dev

FROM node:20-slim AS runtime
ENV NODE_ENV=production \
    FIREHOSE_HEALTH_PORT=8080
WORKDIR /app
COPY --from=prod-deps /app/package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The committed fixture, for `firehose demo` and `firehose replay` in the test compose file.
COPY --from=build /app/fixtures/generated.fixture.gz /app/fixtures/generated.fixture.gz.did-docs.json ./fixtures/
USER node
EXPOSE 8080
# /health answers 200 while the ingestor runs with Redis reachable, 503 otherwise.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FIREHOSE_HEALTH_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["ingest"]
