"""The offline account's Kubernetes side: an API endpoint per EKS cluster that authenticates
EKS tokens and authorizes like EKS (access entries, aws-auth, RBAC)."""
