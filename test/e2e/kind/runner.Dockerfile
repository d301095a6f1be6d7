# The e2e runner for test/e2e/kind/run.sh: the repository with its dev dependencies and kubectl, so
# that `vitest run test/e2e/operator.test.ts test/e2e/upgrade.test.ts test/e2e/backup-restore.test.ts` runs inside the kind cluster, where pod IPs and pod
# DNS names are reachable. Build from the repository root:
#   docker build -f test/e2e/kind/runner.Dockerfile -t phantomdb.local/e2e-runner:dev .
# (BuildKit reads runner.Dockerfile.dockerignore next to this file instead of the root .dockerignore.)
FROM node:20-bookworm-slim

ARG KUBECTL_VERSION=v1.32.0
ARG TARGETARCH=amd64
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates curl \
  && curl -fsSLo /usr/local/bin/kubectl "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl" \
  && chmod 0755 /usr/local/bin/kubectl \
  && apt-get purge -y curl && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN chown -R node:node /src
USER node
ENV PHANTOMDB_E2E_TARGET=external
ENTRYPOINT ["npx", "vitest", "run"]
# One file at a time: on a real cluster both suites share the one operator, and the upgrade suite
# kills it on purpose.
CMD ["--no-file-parallelism", "test/e2e/operator.test.ts", "test/e2e/upgrade.test.ts", "test/e2e/backup-restore.test.ts"]
