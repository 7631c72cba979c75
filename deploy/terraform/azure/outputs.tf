output "resource_group" {
  description = "The resource group holding everything."
  value       = azurerm_resource_group.main.name
}

output "registry_login_server" {
  description = "Push the service image here (docker push <this>/flintcloud-service:<tag>)."
  value       = azurerm_container_registry.main.login_server
}

output "kubeconfig_command" {
  description = "Fetch the cluster's credentials for kubectl."
  value       = "az aks get-credentials --resource-group ${azurerm_resource_group.main.name} --name ${azurerm_kubernetes_cluster.main.name}"
}

output "storage_account" {
  description = "The storage account (containers: dvc-remote, simulations)."
  value       = azurerm_storage_account.main.name
}

output "storage_url" {
  description = "Blob endpoint of the storage account."
  value       = azurerm_storage_account.main.primary_blob_endpoint
}

output "dvc_remote_url" {
  description = "The DVC remote URL of the dvc-remote container. `flintcloud remote setup` (make setup-remote) writes remote `azure` as azure://flintcloud/dvc unless FLINTCLOUD_AZURE_URL is set: export FLINTCLOUD_AZURE_URL=<this> and AZURE_STORAGE_CONNECTION_STRING first (docs/deploying.md)."
  value       = "azure://${azurerm_storage_container.dvc.name}"
}

output "service_blob_url" {
  description = "FLINTCLOUD_BLOB_URL of the service: its inputs and results in the simulations container (deploy/kubernetes/overlays/azure/storage.yaml sets this value)."
  value       = "azure://${azurerm_storage_container.simulations.name}/service"
}
