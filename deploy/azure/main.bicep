// The relay Function app on Flex Consumption, with what it needs and nothing more: a
// user-assigned identity (tokens for the workspaces, the host's storage, Key Vault), its
// storage account, Application Insights on a Log Analytics workspace, Monitoring Metrics
// Publisher on every data collection rule given, and the relay's app settings.
//
//   az deployment group create -g <group> -p deploy/azure/<your copy of main.bicepparam>
//
// Parameters and steps: docs/deploy.md. test/deploy/template.test.ts holds this file to the
// settings table (shared/config/settings.ts); it was never deployed from this repository's CI.

@description('Name of the Function app; also names its plan, identity and monitoring. Globally unique: it is the host name <appName>.azurewebsites.net.')
@minLength(2)
@maxLength(58)
param appName string

@description('Azure region of every resource. Default: the resource group\'s.')
param location string = resourceGroup().location

@description('Node.js major version of the Functions runtime. Build the package (npm ci) with the same major: the native fast path is compiled for it.')
@allowed([
  '20'
  '22'
])
param nodeVersion string = '20'

@description('Metrics ingestion endpoints of the Azure Monitor workspaces (INGESTION_URL), one per entry. May be empty only with a tenant table, whose tenants name their own.')
param ingestionUrls array = []

@description('Resource ids of the data collection rules behind those endpoints (and behind the tenants\' endpoints). The relay\'s identity gets Monitoring Metrics Publisher on each.')
@minLength(1)
param dataCollectionRuleIds array

@description('CLUSTER: the cluster label added to series that have none. Empty: none added.')
param cluster string = ''

@description('The tenant table as JSON (RELAY_TENANTS; schema in docs/tenants.md), e.g. loadTextContent(\'tenants.json\') in the parameters file. Leave empty for one tenant, or use tenantsKeyVaultName.')
@secure()
param tenantsJson string = ''

@description('Key Vault (same resource group, Azure RBAC) holding the tenant table as a secret: RELAY_TENANTS becomes a Key Vault reference resolved with the relay\'s identity. Takes the place of tenantsJson.')
param tenantsKeyVaultName string = ''

@description('Name of that secret.')
param tenantsSecretName string = 'relay-tenants'

@description('Most instances Flex Consumption may scale out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory per instance, in MB. HTTP concurrency per instance follows it (4, 16, 32 by default).')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

// 13 characters of hash keep the storage account's name unique and under 24.
var storageAccountName = 'st${uniqueString(resourceGroup().id, appName)}'
var deploymentContainerName = 'app-package'
// Host roles: built-in role definitions, the same id in every subscription.
var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
// The Functions host refuses larger bodies before the relay sees them: keep it above the
// relay's MAX_BODY_BYTES (32 MiB by default) so the relay answers 413 naming the setting.
var requestBodySizeLimit = '104857600'
var relayTenants = empty(tenantsKeyVaultName) ? tenantsJson : '@Microsoft.KeyVault(VaultName=${tenantsKeyVaultName};SecretName=${tenantsSecretName})'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${appName}'
  location: location
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${appName}'
  location: location
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${appName}'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageAccountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    // The host and the deployment reach storage with the identity: no keys to leak.
    allowSharedKeyAccess: false
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource storageOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${appName}'
  location: location
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        // ---- the relay's settings (shared/config/settings.ts, docs/settings.md) ----
        {
          name: 'INGESTION_URL'
          value: join(ingestionUrls, ',')
        }
        {
          name: 'CLUSTER'
          value: cluster
        }
        {
          name: 'IDENTITY_TYPE'
          value: 'userAssigned'
        }
        {
          name: 'AZURE_CLIENT_ID'
          value: identity.properties.clientId
        }
        {
          name: 'RELAY_TENANTS'
          value: relayTenants
        }
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        // ---- the Functions host's own (docs/deploy.md) ----
        {
          name: 'AzureWebJobsStorage__accountName'
          value: storage.name
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identity.properties.clientId
        }
        {
          name: 'FUNCTIONS_REQUEST_BODY_SIZE_LIMIT'
          value: requestBodySizeLimit
        }
        // the Node.js worker's flags: functions/node-flags.ts says why (a test holds this to it)
        {
          name: 'NODE_OPTIONS'
          value: '--max-semi-space-size=2'
        }
      ]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: nodeVersion
      }
    }
  }
  dependsOn: [
    // The host reads its keys from storage at start-up, with the identity.
    storageOwner
    deploymentContainer
  ]
}

module publisherRoles 'dcr-role.bicep' = [for (ruleId, i) in dataCollectionRuleIds: {
  name: '${appName}-dcr-${i}'
  // A rule's resource id: /subscriptions/<sub>/resourceGroups/<group>/providers/Microsoft.Insights/dataCollectionRules/<name>
  scope: resourceGroup(split(ruleId, '/')[2], split(ruleId, '/')[4])
  params: {
    dataCollectionRuleName: last(split(ruleId, '/'))
    principalId: identity.properties.principalId
  }
}]

module tenantsSecretRole 'keyvault-role.bicep' = if (!empty(tenantsKeyVaultName)) {
  name: '${appName}-tenants-secret'
  params: {
    keyVaultName: tenantsKeyVaultName
    principalId: identity.properties.principalId
  }
}

output functionAppName string = functionApp.name
output writeUrl string = 'https://${functionApp.properties.defaultHostName}/api/v1/write'
output healthUrl string = 'https://${functionApp.properties.defaultHostName}/api/health'
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
