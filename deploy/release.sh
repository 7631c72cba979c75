#!/usr/bin/env bash
# Deploy one image digest to the AKS cluster of deploy/terraform/azure (called by .github/workflows/deploy.yml;
# runs the same from a workstation after `az login`):
#   AZURE_RESOURCE_GROUP=... AZURE_AKS_NAME=... AZURE_ACR_NAME=... SOURCE_IMAGE=ghcr.io/OWNER/flintcloud-service \
#     bash deploy/release.sh sha256:<64 hex>
# 1. imports SOURCE_IMAGE@DIGEST into the cluster's registry (the digest is kept), 2. fetches the cluster's
# credentials for this az login (kubelogin), 3. renders the azure overlay with the image set by that digest,
# 4. applies it and waits for the rollout. The identity needs the roles deploy/terraform/azure assigns to
# var.deployer_principal_id (docs/deploying.md).
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

release=deploy/kubernetes/overlays/release
tools=
trap 'rm -rf "$release" ${tools:+"$tools"}' EXIT

az aks get-credentials --resource-group "$AZURE_RESOURCE_GROUP" --name "$AZURE_AKS_NAME" --overwrite-existing
# The cluster authenticates with Entra ID (Azure RBAC): the kubeconfig above runs kubelogin, which by default asks
# for an interactive device-code login. Make it reuse this az session (OIDC in deploy.yml, `az login` here).
if ! command -v kubelogin >/dev/null 2>&1; then
  tools=$(mktemp -d)
  az aks install-cli --install-location "$tools/kubectl" --kubelogin-install-location "$tools/kubelogin" >/dev/null
  PATH="$PATH:$tools"  # after the PATH's own kubectl, if there is one
fi
kubelogin convert-kubeconfig -l azurecli

# A throw-away overlay on top of overlays/azure that pins the image by digest (kubectl has no `kustomize edit`).
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
