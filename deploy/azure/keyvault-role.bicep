// The tenant table as a Key Vault secret: the relay's identity gets Key Vault Secrets User on
// the vault, so the platform can resolve the RELAY_TENANTS Key Vault reference with it. The
// vault must use Azure RBAC (enableRbacAuthorization), not access policies.

@description('Name of the Key Vault holding the tenant table, in the resource group this module is deployed to.')
param keyVaultName string

@description('Object (principal) id of the relay\'s user-assigned identity.')
param principalId string

// Key Vault Secrets User, a built-in role: read secret values, nothing else.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
