variable "subscription_id" {
  description = "Azure subscription to deploy into (az account show --query id -o tsv)."
  type        = string
}

variable "name" {
  description = "Prefix of every resource name: lower-case letters and digits, 3-16 characters."
  type        = string
  default     = "flintcloud"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{2,15}$", var.name))
    error_message = "name must be 3-16 lower-case letters and digits, starting with a letter (storage and registry names allow nothing else)."
  }
}

variable "location" {
  description = "Azure region."
  type        = string
  default     = "westeurope"
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version (the manifests are validated against 1.32)."
  type        = string
  default     = "1.32"
}

variable "system_vm_size" {
  description = "VM size of the system node pool (cluster add-ons only)."
  type        = string
  default     = "Standard_D2s_v5"
}

variable "worker_vm_size" {
  description = "VM size of the worker pool (the flintcloud pod and the Dask workers): 4 vCPU / 16 GiB fits the service with two run workers."
  type        = string
  default     = "Standard_D4s_v5"
}

variable "worker_min_count" {
  description = "Fewest worker nodes (the cluster autoscaler adds nodes as Dask workers are scheduled)."
  type        = number
  default     = 1
}

variable "worker_max_count" {
  description = "Most worker nodes."
  type        = number
  default     = 4
}

variable "api_server_authorized_ip_ranges" {
  description = "CIDR ranges allowed to reach the Kubernetes API (your office, the CI runners). Empty = no restriction."
  type        = list(string)
  default     = []
}

variable "storage_allowed_ip_ranges" {
  description = "Public IP ranges allowed to reach the storage account besides the cluster's subnet (e.g. where you run dvc push)."
  type        = list(string)
  default     = []
}

variable "deployer_principal_id" {
  description = "Object id of the identity that deploys (deploy/release.sh; for deploy.yml the service principal of AZURE_CLIENT_ID: az ad sp show --id <client id> --query id -o tsv). It gets the roles in main.tf's deployer section. Empty: no role is assigned."
  type        = string
  default     = ""
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default = {
    project = "flintcloud"
  }
}
