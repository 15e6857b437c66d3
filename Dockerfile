# syntax=docker/dockerfile:1
# Warden runtime image (docker-compose.yml's `warden` service).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --ignore-scripts
COPY bin ./bin
COPY src ./src
COPY detectors ./detectors
COPY config ./config
RUN npm run build

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/config ./config
# Lua scripts are read from src/state/lua at run time.
COPY --from=build /app/src/state/lua ./src/state/lua
USER node
CMD ["node", "bin/warden.js", "run", "--config", "/app/config"]
