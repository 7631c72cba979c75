# flintcloud on Azure from nothing: a resource group, a storage account (the DVC remote's container and the
# simulation store's), a container registry, an AKS cluster with a worker node pool, and the Kubernetes
# namespace, Secret and storage class the manifests in deploy/kubernetes/overlays/azure expect. docs/deploying.md
# walks it.

locals {
  # Storage and registry names: globally unique, letters and digits only.
  unique = substr(sha1("${var.subscription_id}/${var.name}"), 0, 6)
}

resource "azurerm_resource_group" "main" {
  name     = "${var.name}-rg"
  location = var.location
  tags     = var.tags
}

# ---- network: the cluster's subnet, with a service endpoint so storage can admit it by subnet ----
resource "azurerm_virtual_network" "main" {
  name                = "${var.name}-vnet"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  address_space       = ["10.42.0.0/16"]
  tags                = var.tags
}

resource "azurerm_subnet" "aks" {
  name                 = "aks"
  resource_group_name  = azurerm_resource_group.main.name
  virtual_network_name = azurerm_virtual_network.main.name
  address_prefixes     = ["10.42.0.0/20"]
  service_endpoints    = ["Microsoft.Storage"]
}

# Azure's default rules (VNet-internal traffic and the load balancer in, everything out); AKS adds the rules
# its load balancers need to the node NICs' own security group.
resource "azurerm_network_security_group" "aks" {
  name                = "${var.name}-aks-nsg"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  tags                = var.tags
}

resource "azurerm_subnet_network_security_group_association" "aks" {
  subnet_id                 = azurerm_subnet.aks.id
  network_security_group_id = azurerm_network_security_group.aks.id
}

resource "azurerm_log_analytics_workspace" "main" {
  name                = "${var.name}-logs"
  location            = azurerm_resource_group.main.location
  resource_group_name = azurerm_resource_group.main.name
  sku                 = "PerGB2018"
  retention_in_days   = 30
  tags                = var.tags
}

# ---- storage: private containers, TLS 1.2+ only, HTTPS only, reachable from the cluster's subnet ----
resource "azurerm_storage_account" "main" {
  #checkov:skip=CKV2_AZURE_40:DVC's Azure remote and the service read a connection string from the Kubernetes Secret below (issue 18); keys stay out of git and out of the image
  #checkov:skip=CKV2_AZURE_1:Microsoft-managed keys encrypt at rest; a customer-managed key needs a Key Vault this small deployment does not run
  #checkov:skip=CKV2_AZURE_33:no private endpoint: the cluster reaches storage through its subnet's service endpoint, and network rules deny everything else
  #checkov:skip=CKV_AZURE_206:GRS doubles storage cost; every object is reproducible from the git history with dvc repro, and ZRS survives a zone loss
  #checkov:skip=CKV2_AZURE_41:no SAS tokens are issued by this deployment
  #checkov:skip=CKV_AZURE_33:queue service unused (blobs only)
  #checkov:skip=CKV_AZURE_59:the public endpoint is firewalled (network_rules default Deny): only the cluster's subnet and storage_allowed_ip_ranges get in
  name                            = "${var.name}${local.unique}"
  resource_group_name             = azurerm_resource_group.main.name
  location                        = azurerm_resource_group.main.location
  account_tier                    = "Standard"
  account_replication_type        = "ZRS"
  account_kind                    = "StorageV2"
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  allow_nested_items_to_be_public = false
  public_network_access_enabled   = true
  shared_access_key_enabled       = true

  blob_properties {
    versioning_enabled = true
    delete_retention_policy {
      days = 14
    }
    container_delete_retention_policy {
      days = 14
    }
  }

  sas_policy {
    expiration_period = "01.00:00:00"
  }

  network_rules {
    default_action             = "Deny"
    bypass                     = ["AzureServices"]
    virtual_network_subnet_ids = [azurerm_subnet.aks.id]
    ip_rules                   = var.storage_allowed_ip_ranges
  }

  tags = var.tags
}

# The DVC remote (`flintcloud remote setup`, remote `azure`) and the simulation store: both private.
resource "azurerm_storage_container" "dvc" {
  #checkov:skip=CKV2_AZURE_21:blob read logging is configured on the account's diagnostic settings, not per container
  name                  = "dvc-remote"
  storage_account_id    = azurerm_storage_account.main.id
  container_access_type = "private"
}

resource "azurerm_storage_container" "simulations" {
  #checkov:skip=CKV2_AZURE_21:blob read logging is configured on the account's diagnostic settings, not per container
  name                  = "simulations"
  storage_account_id    = azurerm_storage_account.main.id
  container_access_type = "private"
}

# ---- registry: images pushed by CI (or az acr build), pulled by the cluster's kubelet identity ----
resource "azurerm_container_registry" "main" {
  #checkov:skip=CKV_AZURE_165:geo-replication needs Premium (~5x the price); one region serves one cluster
  #checkov:skip=CKV_AZURE_233:zone redundancy needs Premium; the image is rebuilt from git if lost
  #checkov:skip=CKV_AZURE_164:content trust (Notary v1) is deprecated by Azure; images are deployed by digest
  #checkov:skip=CKV_AZURE_166:quarantine needs Premium and an external scanner
  #checkov:skip=CKV_AZURE_139:CI pushes over the public endpoint (admin user off, Entra ID auth only); a private endpoint needs Premium
  #checkov:skip=CKV_AZURE_237:dedicated data endpoints need Premium
  #checkov:skip=CKV_AZURE_163:vulnerability scanning is Defender for Containers, a subscription-level plan, not a registry setting
  name                     = "${var.name}${local.unique}"
  resource_group_name      = azurerm_resource_group.main.name
  location                 = azurerm_resource_group.main.location
  sku                      = "Standard"
  admin_enabled            = false
  retention_policy_in_days = 7
  tags                     = var.tags
}

# ---- AKS: a small system pool and an autoscaled worker pool for the service and the Dask workers ----
resource "azurerm_kubernetes_cluster" "main" {
  #checkov:skip=CKV_AZURE_115:a private cluster needs a VPN or jump host to apply manifests; the API server is restricted by authorized IP ranges instead
  #checkov:skip=CKV_AZURE_117:OS disks are ephemeral (nothing persists on them); a disk encryption set needs a Key Vault this deployment does not run
  #checkov:skip=CKV_AZURE_6:authorized IP ranges are the variable api_server_authorized_ip_ranges; empty by default because the operator's address is not known in advance
  #checkov:skip=CKV_AZURE_170:the Free tier has no uptime SLA; choose Standard in production (sku_tier)
  #checkov:skip=CKV_AZURE_141:the Kubernetes provider below writes the storage Secret with the admin credentials Terraform already holds; users get Entra ID RBAC
  name                      = "${var.name}-aks"
  location                  = azurerm_resource_group.main.location
  resource_group_name       = azurerm_resource_group.main.name
  dns_prefix                = var.name
  kubernetes_version        = var.kubernetes_version
  sku_tier                  = "Free"
  automatic_upgrade_channel = "patch"
  node_os_upgrade_channel   = "NodeImage"
  azure_policy_enabled      = true
  oidc_issuer_enabled       = true
  workload_identity_enabled = true
  local_account_disabled    = false

  api_server_access_profile {
    authorized_ip_ranges = var.api_server_authorized_ip_ranges
  }

  default_node_pool {
    name                         = "system"
    vm_size                      = var.system_vm_size
    node_count                   = 1
    max_pods                     = 50
    os_disk_type                 = "Ephemeral"
    os_disk_size_gb              = 64
    host_encryption_enabled      = true
    only_critical_addons_enabled = true
    vnet_subnet_id               = azurerm_subnet.aks.id
    zones                        = ["1", "2", "3"]
    upgrade_settings {
      max_surge = "10%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin = "azure"
    network_policy = "azure"
  }

  azure_active_directory_role_based_access_control {
    azure_rbac_enabled = true
  }

  key_vault_secrets_provider {
    secret_rotation_enabled = true
  }

  oms_agent {
    log_analytics_workspace_id = azurerm_log_analytics_workspace.main.id
  }

  web_app_routing {
    dns_zone_ids = []
  }

  tags = var.tags
}

resource "azurerm_kubernetes_cluster_node_pool" "workers" {
  name                    = "workers"
  kubernetes_cluster_id   = azurerm_kubernetes_cluster.main.id
  vm_size                 = var.worker_vm_size
  auto_scaling_enabled    = true
  min_count               = var.worker_min_count
  max_count               = var.worker_max_count
  max_pods                = 50
  os_disk_type            = "Ephemeral"
  os_disk_size_gb         = 100
  host_encryption_enabled = true
  vnet_subnet_id          = azurerm_subnet.aks.id
  zones                   = ["1", "2", "3"]
  node_labels = {
    "flintcloud.org/pool" = "workers"
  }
  node_taints = ["flintcloud.org/pool=workers:NoSchedule"]
  tags        = var.tags
}

resource "azurerm_role_assignment" "aks_pulls_from_acr" {
  scope                            = azurerm_container_registry.main.id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.main.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}

# ---- the identity that deploys (deploy/release.sh, .github/workflows/deploy.yml), given its object id ----
# What release.sh does, and no more: `az acr import` (importImage, which AcrPush does not grant); `az aks
# get-credentials` (the cluster user credential); `kubectl apply` of the azure overlay in namespace flintcloud.
# For that last one, Azure RBAC's "RBAC Writer" is not enough: it covers built-in kinds only, not the dask
# operator's DaskCluster/DaskAutoscaler, which only a wildcard role such as "RBAC Admin" reaches. Scoped to the
# namespace, RBAC Admin manages everything inside it but not the namespace itself, which this file owns (the
# azure overlay leaves the Namespace out for that reason).
resource "azurerm_role_assignment" "deployer_imports_images" {
  count                = var.deployer_principal_id == "" ? 0 : 1
  scope                = azurerm_container_registry.main.id
  role_definition_name = "Container Registry Data Importer and Data Reader"
  principal_id         = var.deployer_principal_id
}

resource "azurerm_role_assignment" "deployer_cluster_user" {
  count                = var.deployer_principal_id == "" ? 0 : 1
  scope                = azurerm_kubernetes_cluster.main.id
  role_definition_name = "Azure Kubernetes Service Cluster User Role"
  principal_id         = var.deployer_principal_id
}

resource "azurerm_role_assignment" "deployer_manages_namespace" {
  count                = var.deployer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_kubernetes_cluster.main.id}/namespaces/${kubernetes_namespace.flintcloud.metadata[0].name}"
  role_definition_name = "Azure Kubernetes Service RBAC Admin"
  principal_id         = var.deployer_principal_id
}

# ---- the Kubernetes side: the namespace, the Secret and the storage class overlays/azure uses ----
resource "kubernetes_namespace" "flintcloud" {
  metadata {
    name = "flintcloud"
    labels = {
      "pod-security.kubernetes.io/enforce" = "restricted"
    }
  }
}

# The data volume's disk class (overlays/azure/storage.yaml): Premium SSD, zone-redundant, so the pod can start in
# another zone with its data after a zone failure; named here rather than left to the SKU of AKS's built-in
# managed-csi-premium class, which is documented as Premium_LRS (one zone).
# Retain: deleting the claim keeps the disk (and its simulations) until you delete it in Azure.
resource "kubernetes_storage_class" "premium_zrs" {
  metadata {
    name = "flintcloud-premium-zrs"
  }
  storage_provisioner    = "disk.csi.azure.com"
  reclaim_policy         = "Retain"
  volume_binding_mode    = "WaitForFirstConsumer"
  allow_volume_expansion = true
  parameters = {
    skuName = "Premium_ZRS"
  }
}

resource "kubernetes_secret" "storage" {
  metadata {
    name      = "flintcloud-azure-storage"
    namespace = kubernetes_namespace.flintcloud.metadata[0].name
  }
  data = {
    "connection-string" = azurerm_storage_account.main.primary_connection_string
    "account-name"      = azurerm_storage_account.main.name
    "dvc-container"     = azurerm_storage_container.dvc.name
    "store-container"   = azurerm_storage_container.simulations.name
  }
  type = "Opaque"
}
