# Production image: `firehose ingest` (see docs/harness.md). Builds offline, with no registry:
#   NODE_IMAGE   the base, default appview-firehose/node:local (this host's node and npm, made by
#                docker/build-local-images.sh); `--build-arg NODE_IMAGE=node:20-slim` also works
#   node_modules taken from the build context as `npm ci` installed it (run that first), not fetched
# Stages (dependencies first, so a source change rebuilds neither node_modules layer):
#   deps      package files + node_modules
#   prod-deps deps minus devDependencies
#   build     deps + sources, compiled dist/
#   test      build + test sources: the scenario runner of docker-compose.test.yml
#   runtime   production dependencies + dist/ only, non-root (the default target)
ARG NODE_IMAGE=appview-firehose/node:local

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY node_modules ./node_modules

FROM deps AS prod-deps
RUN npm prune --omit=dev --offline --no-audit --no-fund

FROM deps AS build
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
COPY loadtest ./loadtest
COPY fixtures ./fixtures
COPY cli ./cli
COPY bench ./bench
RUN node node_modules/typescript/bin/tsc -p tsconfig.json

# Runs as root: vitest writes its cache under /app (this stage never ships).
FROM build AS test
COPY vitest.config.ts ./
COPY test ./test
ENTRYPOINT ["npx", "vitest", "run"]
CMD ["test/scenarios"]

FROM ${NODE_IMAGE} AS runtime
# Semi-spaces of 4 MiB instead of up to 16: ~15 MiB less RSS, no measured CPU cost (docs/performance.md).
# The health port listens on every interface here (the CLI's default is 127.0.0.1): probes and
# Prometheus come from outside the container.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    FIREHOSE_HEALTH_PORT=8080 \
    FIREHOSE_HEALTH_HOST=0.0.0.0
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
