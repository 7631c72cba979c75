#!/usr/bin/env bash
# Deploy one image digest to the AKS cluster of deploy/terraform/azure (called by .github/workflows/deploy.yml;
# runs the same from a workstation after `az login`):
#   AZURE_RESOURCE_GROUP=... AZURE_AKS_NAME=... AZURE_ACR_NAME=... SOURCE_IMAGE=ghcr.io/OWNER/flintcloud-service \
#     bash deploy/release.sh sha256:<64 hex>
# 1. imports SOURCE_IMAGE@DIGEST into the cluster's registry (the digest is kept), 2. renders the azure
# overlay with the image set by that digest, 3. applies it and waits for the rollout.
set -euo pipefail
cd "$(dirname "$0")/.."

digest=${1:?usage: deploy/release.sh sha256:<digest>}
if [[ ! $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "deploy/release.sh: '$digest' is not an image digest (sha256: and 64 hex digits)" >&2
  exit 2
fi
: "${AZURE_RESOURCE_GROUP:?set AZURE_RESOURCE_GROUP (terraform output resource_group)}"
: "${AZURE_AKS_NAME:?set AZURE_AKS_NAME (the cluster name, <name>-aks)}"
: "${AZURE_ACR_NAME:?set AZURE_ACR_NAME (terraform output registry_login_server, without .azurecr.io)}"
: "${SOURCE_IMAGE:?set SOURCE_IMAGE (e.g. ghcr.io/OWNER/flintcloud-service)}"
source_image=${SOURCE_IMAGE,,}
registry="${AZURE_ACR_NAME}.azurecr.io"

import_args=(--name "$AZURE_ACR_NAME" --source "${source_image}@${digest}" --image "flintcloud-service:${digest#sha256:}" --force)
if [[ -n ${GHCR_TOKEN:-} ]]; then
  import_args+=(--username "${GITHUB_ACTOR:-github}" --password "$GHCR_TOKEN")
fi
az acr import "${import_args[@]}"

az aks get-credentials --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_AKS_NAME" --overwrite-existing

# A throw-away overlay on top of overlays/azure that pins the image by digest (kubectl has no `kustomize edit`).
release=deploy/kubernetes/overlays/release
trap 'rm -rf "$release"' EXIT
mkdir -p "$release"
cat > "$release/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../azure
images:
  - name: flintcloudacr.azurecr.io/flintcloud-service
    newName: ${registry}/flintcloud-service
    digest: ${digest}
YAML

kubectl kustomize "$release" > "$release/rendered.yaml"
grep -q "image: ${registry}/flintcloud-service@${digest}" "$release/rendered.yaml"
kubectl apply -f "$release/rendered.yaml"
kubectl --namespace flintcloud rollout status deployment/flintcloud --timeout=10m
echo "deployed ${registry}/flintcloud-service@${digest}"
