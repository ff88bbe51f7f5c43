# Production image: `firehose ingest` (see docs/harness.md). Builds offline, with no registry and
# no compiler: it packs what `npm ci` made on the host (run it first), nothing is fetched or built.
#   NODE_IMAGE   the base, default appview-firehose/node:local (this host's node and npm, made by
#                docker/build-local-images.sh); `--build-arg NODE_IMAGE=node:20-slim` also works
#   node_modules taken from the build context as `npm ci` installed it, pruned to production
#   dist/        compiled by `npm ci` (its prepare script runs `npm run build`)
# Stages:
#   prod-deps  package files + node_modules minus devDependencies
#   runtime    production dependencies + dist/, non-root (the default target)
ARG NODE_IMAGE=appview-firehose/node:local

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY node_modules ./node_modules
RUN npm prune --omit=dev --offline --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# Semi-spaces of 2 MiB instead of up to 16: ~20 MiB less RSS, no measured CPU cost (docs/performance.md).
# The health port listens on every interface here (the CLI's default is 127.0.0.1): probes and
# Prometheus come from outside the container.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=2 \
    FIREHOSE_HEALTH_PORT=8080 \
    FIREHOSE_HEALTH_HOST=0.0.0.0
WORKDIR /app
COPY --from=prod-deps /app/package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY dist ./dist
# The committed fixture, for `firehose demo` and `firehose replay` in the test compose file.
COPY fixtures/generated.fixture.gz fixtures/generated.fixture.gz.did-docs.json ./fixtures/
USER node
EXPOSE 8080
# /health answers 200 while the ingestor runs with Redis reachable, 503 otherwise.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.FIREHOSE_HEALTH_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/index.js"]
CMD ["ingest"]
