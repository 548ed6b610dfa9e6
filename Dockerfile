# belay: `docker build -t belay . && docker run -p 3000:3000 -v belay-data:/data belay`
# (any command: `docker run belay playbooks list`). Kubernetes: deploy/ (kubectl apply -k deploy/).
# .dockerignore keeps the context to what is copied below: no node_modules, .belay, .env or .git.
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    PORT=3000 \
    BELAY_DATA_DIR=/data \
    BELAY_PLAYBOOKS_DIR=/app/playbooks

# A font for the text of incident charts (resvg reads the system's fonts; slim has none).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
# tsx is a runtime dependency: playbooks are TypeScript the team edits, run without a build step.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY bin ./bin
COPY src ./src
COPY playbooks ./playbooks
COPY runbooks ./runbooks
COPY tsconfig.json ./

RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 3000

# Ready, not merely alive: /readyz checks the store, and answers 503 while belay drains.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"

# node is PID 1 and belay handles SIGTERM itself (it drains, then exits 0).
ENTRYPOINT ["node", "bin/belay.mjs"]
CMD ["serve"]
