// Example parameters for main.bicep: one workspace, one cluster. Copy it beside main.bicep (e.g.
// prod.bicepparam) and replace the <…> parts with the values `az` prints in docs/deploy.md, step 2.
//
//   az deployment group create -g <group> -p deploy/azure/prod.bicepparam
using 'main.bicep'

param appName = 'prom-relay-<unique-suffix>'

param nodeVersion = '20'

// The workspace's metrics ingestion endpoint (its DCE's metrics ingestion endpoint + its DCR's
// immutable id), as docs/deploy.md step 2 prints it.
param ingestionUrls = [
  'https://<dce-name>.<region>-1.metrics.ingest.monitor.azure.com/dataCollectionRules/dcr-<immutable-id>/streams/Microsoft-PrometheusMetrics/api/v1/write?api-version=2023-04-24'
]

// The workspace's default data collection rule (and any tenant's).
param dataCollectionRuleIds = [
  '/subscriptions/<subscription-id>/resourceGroups/<workspace-group>/providers/Microsoft.Insights/dataCollectionRules/<dcr-name>'
]

param cluster = 'prod-weu-1'

// Many clusters, one relay (docs/tenants.md): the table from a file next to this one…
// param tenantsJson = loadTextContent('tenants.json')
// …or from a Key Vault secret (vault in the same resource group, Azure RBAC):
// param tenantsKeyVaultName = '<vault-name>'
// param tenantsSecretName = 'relay-tenants'
