#!/usr/bin/env bash
# Runs the operator e2e scenarios (test/e2e/operator.test.ts, upgrade.test.ts, backup-restore.test.ts) on a real Kubernetes cluster made by
# kind: builds the data node, operator and e2e runner images, creates the cluster, loads the
# images, installs the operator with Helm (charts/phantomdb-operator), and runs the suite in a Job
# inside the cluster (PHANTOMDB_E2E_TARGET=external), where pod IPs and pod DNS names resolve.
# Exits with the suite's result; prints diagnostics when it fails.
#
# Needs: docker, kind, kubectl, helm (scripts/get-helm.sh installs one from npm).
# Environment:
#   KIND_CLUSTER_NAME   cluster name (default phantomdb-e2e)
#   KEEP_CLUSTER=1      keep the cluster afterwards (default: delete it if this script created it)
#   IMAGE_TAG           tag of the operator and runner images (default e2e)
#   CLUSTER_VERSION     spec.version of the test clusters = tag of the data node image (default 0.1.0)
#   UPGRADE_VERSION     the version upgrade.test.ts upgrades to (default 0.2.0): the same data node
#                       image under a second tag, so the upgrade changes the pod template only
#   E2E_TIMEOUT_SCALE   multiplies the suite's named timeouts (default 3: image pulls, slow runners)
#   E2E_JOB_TIMEOUT     seconds the suite may run (default 1800)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-phantomdb-e2e}"
tag="${IMAGE_TAG:-e2e}"
cluster_version="${CLUSTER_VERSION:-0.1.0}"
upgrade_version="${UPGRADE_VERSION:-0.2.0}"
registry="phantomdb.local"
node_image="$registry/phantomdb-node:$cluster_version"
upgrade_node_image="$registry/phantomdb-node:$upgrade_version"
operator_image="$registry/phantomdb-operator:$tag"
runner_image="$registry/e2e-runner:$tag"
operator_namespace="phantomdb-system"
runner_namespace="phantomdb-e2e-runner"
job_timeout="${E2E_JOB_TIMEOUT:-1800}"
created_cluster=0

log() { printf '[kind-e2e] %s\n' "$*"; }

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { log "missing $tool (see the header of $0)"; exit 2; }
  done
}

helm_binary() {
  if command -v helm >/dev/null 2>&1; then
    command -v helm
  else
    "$root/scripts/get-helm.sh"
  fi
}

diagnostics() {
  log "diagnostics"
  kubectl get nodes -o wide || true
  kubectl get all,pvc,phantomclusters.phantomdb.io,leases.coordination.k8s.io -A -o wide || true
  kubectl describe phantomclusters.phantomdb.io -A || true
  kubectl get events -A --sort-by=.lastTimestamp | tail -n 100 || true
  kubectl logs -n "$operator_namespace" -l app.kubernetes.io/name=phantomdb-operator --all-containers --prefix --tail=300 || true
  local pod
  local ns
  for ns in phantomdb-e2e phantomdb-e2e-upgrade phantomdb-e2e-backup; do
    for pod in $(kubectl get pods -n "$ns" -o name 2>/dev/null); do
      kubectl logs -n "$ns" "$pod" --all-containers --prefix --tail=100 || true
      kubectl logs -n "$ns" "$pod" --all-containers --prefix --tail=100 --previous 2>/dev/null || true
    done
  done
}

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then diagnostics; fi
  if [ "$created_cluster" -eq 1 ] && [ "${KEEP_CLUSTER:-0}" != "1" ]; then
    log "deleting kind cluster $cluster"
    kind delete cluster --name "$cluster" || true
  fi
  exit "$status"
}

build_images() {
  log "building $node_image, $operator_image and $runner_image"
  docker build -f "$root/datanode/Dockerfile" -t "$node_image" "$root"
  docker tag "$node_image" "$upgrade_node_image"
  docker build -f "$root/operator/Dockerfile" -t "$operator_image" "$root"
  DOCKER_BUILDKIT=1 docker build -f "$root/test/e2e/kind/runner.Dockerfile" -t "$runner_image" "$root"
}

create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
    log "using the existing kind cluster $cluster"
  else
    log "creating kind cluster $cluster"
    kind create cluster --name "$cluster" --wait 180s
    created_cluster=1
  fi
  kubectl config use-context "kind-$cluster" >/dev/null
  log "loading images into $cluster"
  # The upgrade scenario's unpullable image (phantomdb.local/phantomdb-node:0.0.0-nonexistent) is
  # deliberately not loaded.
  kind load docker-image --name "$cluster" "$node_image" "$upgrade_node_image" "$operator_image" "$runner_image"
}

install_operator() {
  local helm
  helm="$(helm_binary)"
  log "installing the operator with $helm"
  "$helm" upgrade --install phantomdb-operator "$root/charts/phantomdb-operator" \
    --namespace "$operator_namespace" --create-namespace \
    --set image.repository="$registry/phantomdb-operator" \
    --set image.tag="$tag" \
    --set image.pullPolicy=IfNotPresent \
    --set dataNode.imageRepository="$registry/phantomdb-node" \
    --wait --timeout 5m
  kubectl wait --for=condition=Established crd/phantomclusters.phantomdb.io --timeout=60s
}

# The runner may do anything in this throwaway cluster: it creates namespaces, execs into pods and
# deletes the operator's pods.
runner_manifests() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $runner_namespace
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: e2e-runner
  namespace: $runner_namespace
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: phantomdb-e2e-runner
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
  - kind: ServiceAccount
    name: e2e-runner
    namespace: $runner_namespace
---
apiVersion: batch/v1
kind: Job
metadata:
  name: e2e
  namespace: $runner_namespace
spec:
  backoffLimit: 0
  activeDeadlineSeconds: $job_timeout
  template:
    spec:
      serviceAccountName: e2e-runner
      restartPolicy: Never
      containers:
        - name: e2e
          image: $runner_image
          imagePullPolicy: IfNotPresent
          env:
            - name: PHANTOMDB_E2E_TARGET
              value: external
            # backup-restore.test.ts runs s3rver in this pod; the data pods reach it at this IP.
            - name: PHANTOMDB_E2E_POD_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            - name: PHANTOMDB_E2E_OPERATOR_NAMESPACE
              value: $operator_namespace
            - name: PHANTOMDB_E2E_TIMEOUT_SCALE
              value: "${E2E_TIMEOUT_SCALE:-3}"
            - name: PHANTOMDB_E2E_VERSION_A
              value: "$cluster_version"
            - name: PHANTOMDB_E2E_VERSION_B
              value: "$upgrade_version"
EOF
}

run_suite() {
  log "running the e2e suite in job $runner_namespace/e2e"
  kubectl delete namespace "$runner_namespace" --ignore-not-found --wait=true
  runner_manifests | kubectl apply -f -
  local appear_deadline=$((SECONDS + 120))
  until [ -n "$(kubectl get pods -n "$runner_namespace" -l job-name=e2e -o name)" ]; do
    [ "$SECONDS" -lt "$appear_deadline" ] || { log "the runner pod did not appear"; return 1; }
    sleep 1
  done
  kubectl wait --for=condition=Ready pod -l job-name=e2e -n "$runner_namespace" --timeout=300s \
    || kubectl wait --for=jsonpath='{.status.phase}'=Succeeded pod -l job-name=e2e -n "$runner_namespace" --timeout=10s \
    || kubectl wait --for=jsonpath='{.status.phase}'=Failed pod -l job-name=e2e -n "$runner_namespace" --timeout=10s
  kubectl logs -f -n "$runner_namespace" job/e2e || true
  local succeeded=""
  local deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    succeeded="$(kubectl get job e2e -n "$runner_namespace" -o jsonpath='{.status.succeeded}')"
    [ -n "$succeeded" ] && break
    [ -n "$(kubectl get job e2e -n "$runner_namespace" -o jsonpath='{.status.failed}')" ] && break
    sleep 2
  done
  if [ "$succeeded" = "1" ]; then
    log "e2e suite passed"
  else
    log "e2e suite failed"
    return 1
  fi
}

main() {
  need docker kind kubectl
  trap cleanup EXIT
  build_images
  create_cluster
  install_operator
  run_suite
}

main "$@"
