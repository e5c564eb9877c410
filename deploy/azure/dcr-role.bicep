// One data collection rule: the relay's identity gets Monitoring Metrics Publisher on it, the
// least the ingestion endpoint needs to take data for this rule. A module of its own because a
// DCR may sit in another resource group or subscription than the relay (main.bicep deploys
// this once per DCR, scoped to the DCR's resource group).

@description('Name of the data collection rule, in the resource group this module is deployed to.')
param dataCollectionRuleName string

@description('Object (principal) id of the relay\'s user-assigned identity.')
param principalId string

// Monitoring Metrics Publisher, a built-in role: the same id in every subscription.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource dataCollectionRule 'Microsoft.Insights/dataCollectionRules@2022-06-01' existing = {
  name: dataCollectionRuleName
}

resource publisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  // Deterministic name: redeploying finds the same assignment instead of failing on a duplicate.
  name: guid(dataCollectionRule.id, principalId, monitoringMetricsPublisher)
  scope: dataCollectionRule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
