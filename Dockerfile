# Image for the worker (`npm run worker`) and the API (`npm run api`); see docker-compose.yml.
# Node 22: kysely 0.29 and cookie 2 declare node >= 22 (test/compose.test.ts checks every locked package).
FROM node:22-slim

WORKDIR /app

# Dependencies first, so code changes don't reinstall them. Dev dependencies are
# kept: the processes run TypeScript through tsx.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .
# /app/blobs is where docker-compose.yml mounts the blobs volume: a new volume takes this folder's owner.
RUN mkdir -p /app/.data /app/blobs && chown node:node /app/.data /app/blobs

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/.data
USER node
EXPOSE 3000

# The API by default; docker-compose.yml runs the worker with `npm run worker`.
CMD ["npm", "run", "api"]
