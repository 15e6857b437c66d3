# syntax=docker/dockerfile:1
# Warden runtime image (used by docker-compose.yml's `warden` service).

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script runs tsc, and the sources are not here yet.
RUN npm ci --ignore-scripts
# Sources come through a bind mount rather than COPY so that directories git does
# not keep while empty (config/, detectors/, src/state/lua/) may be absent, and the
# host's node_modules/ and .kafka/ never enter the image.
RUN --mount=type=bind,target=/ctx \
    cp /ctx/tsconfig.json ./ \
 && for d in bin src detectors config; do \
      if [ -d "/ctx/$d" ]; then cp -R "/ctx/$d" ./; else mkdir -p "$d"; fi; \
    done \
 && mkdir -p src/state/lua \
 && npm run build

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/config ./config
# Lua scripts are read from src/state/lua at runtime (see package.json "files").
COPY --from=build /app/src/state/lua ./src/state/lua
USER node
CMD ["node", "bin/warden.js", "run", "--config", "/app/config"]
