# syntax=docker/dockerfile:1
# Warden runtime image (docker-compose.yml's `warden` service). Node 24 is an
# LTS line (supported to April 2028); Node 20 left support in April 2026.
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY bin ./bin
COPY src ./src
COPY detectors ./detectors
COPY config ./config
RUN npm run build

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The example config, used when no config directory is mounted at /app/config.
COPY --from=build /app/config ./config
# Lua scripts are read from src/state/lua at run time.
COPY --from=build /app/src/state/lua ./src/state/lua
# Owned by root and readable by everyone, whatever modes the build context had:
# the service user reads its code and config and can change neither.
RUN chmod -R a+rX,go-w /app
# The image's unprivileged user (uid 1000); a mounted config must be readable by it.
USER node
# /healthz, /readyz and /metrics (WARDEN_HTTP_PORT).
EXPOSE 9400
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.WARDEN_HTTP_PORT || 9400) + '/readyz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/warden.js", "run", "--config", "/app/config"]
