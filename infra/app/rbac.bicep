@description('Role assignments: the least role that works, for the app\'s identity and for the deploying user.')
param appPrincipalId string
@description('The deploying user or pipeline (azd sets it), so `func start` works against the same resources; empty to skip.')
param userPrincipalId string = ''
@description('azd\'s AZURE_PRINCIPAL_TYPE: a role assignment whose principalType does not match the principal fails.')
@allowed(['User', 'ServicePrincipal'])
param userPrincipalType string = 'User'
param storageAccountName string
param cosmosAccountName string
param serviceBusNamespaceName string
param keyVaultName string
param applicationInsightsName string
param webPubSubName string

// Built-in role definition ids, written once.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  serviceBusDataSender: '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'
  serviceBusDataReceiver: '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  // Publishing to groups and issuing client tokens through the identity (local auth is off).
  webPubSubServiceOwner: '12cf5a90-567b-43ae-8102-96cf46c7d9b4'
  // A Cosmos DB data-plane role (sqlRoleDefinitions), not an Azure RBAC role.
  cosmosBuiltInDataContributor: '00000000-0000-0000-0000-000000000002'
}

var principals = concat(
  [{ id: appPrincipalId, type: 'ServicePrincipal' }],
  empty(userPrincipalId) ? [] : [{ id: userPrincipalId, type: userPrincipalType }]
)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}
resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}
resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = {
  name: webPubSubName
}

resource webPubSubServiceOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(webPubSub.id, principal.id, roles.webPubSubServiceOwner)
    scope: webPubSub
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.webPubSubServiceOwner)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(storage.id, principal.id, roles.storageBlobDataOwner)
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource serviceBusDataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(serviceBus.id, principal.id, roles.serviceBusDataSender)
    scope: serviceBus
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataSender)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource serviceBusDataReceiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(serviceBus.id, principal.id, roles.serviceBusDataReceiver)
    scope: serviceBus
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataReceiver)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(vault.id, principal.id, roles.keyVaultSecretsUser)
    scope: vault
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource monitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for principal in principals: {
    name: guid(applicationInsights.id, principal.id, roles.monitoringMetricsPublisher)
    scope: applicationInsights
    properties: {
      roleDefinitionId: subscriptionResourceId(
        'Microsoft.Authorization/roleDefinitions',
        roles.monitoringMetricsPublisher
      )
      principalId: principal.id
      principalType: principal.type
    }
  }
]

resource cosmosDataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principal in principals: {
    parent: cosmos
    name: guid(cosmos.id, principal.id, roles.cosmosBuiltInDataContributor)
    properties: {
      roleDefinitionId: '${cosmos.id}/sqlRoleDefinitions/${roles.cosmosBuiltInDataContributor}'
      principalId: principal.id
      scope: cosmos.id
    }
  }
]
