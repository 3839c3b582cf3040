targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('The azd environment name; with the subscription and location it makes every resource name unique.')
param environmentName string

@minLength(1)
@description('Where everything runs (a region with the Flex Consumption plan).')
@metadata({ azd: { type: 'location' } })
param location string

@description('The deploying principal\'s object id (azd fills it in); gets the same data roles as the app, for `func start`.')
param principalId string = ''

@description('What principalId is: azd sets AZURE_PRINCIPAL_TYPE to ServicePrincipal when a pipeline runs `azd up` (Azure/azure-dev cli/azd/pkg/infra/provisioning/current_principal_id_provider.go).')
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

@description('Availability zones where the tiers allow them: Cosmos DB zone-redundant regions, zone-redundant storage (ZRS) and a zone-redundant Flex Consumption plan. The region must support them (docs/deploy.md).')
param zoneRedundant bool = true

@description('A second Cosmos DB region (for example westus3), read replica and service-managed failover target; empty for one region. Serverless accounts run in one region only, so setting it switches Cosmos DB to autoscale throughput.')
param cosmosFailoverLocation string = ''

@description('The Service Bus tier: Standard has duplicate detection and scheduled messages at the lowest price.')
@allowed(['Standard', 'Premium'])
param serviceBusSku string = 'Standard'

@description('The Web PubSub tier for live events.')
@allowed(['Free_F1', 'Standard_S1'])
param webPubSubSku string = 'Free_F1'

@description('Cosmos DB serverless (no idle cost) or provisioned autoscale throughput (steady load).')
param cosmosServerless bool = true

// Flex Consumption takes 1 to 1,000 ("Limit scale-out", https://learn.microsoft.com/azure/azure-functions/event-driven-scaling#limit-scale-out;
// earlier versions of that page gave 40 as the least). A low cap keeps a small Cosmos DB budget from being outrun.
@description('Most instances the Function App scales out to (Flex Consumption takes 1 to 1,000).')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('HTTP requests one instance serves at once. Conveyor\'s requests wait on Cosmos DB or sit in long polls, so an instance holds many (docs/deploy.md).')
@minValue(1)
param httpPerInstanceConcurrency int = 100

@minLength(36)
@description('The application (client) id of the Entra ID app registration that represents the API (docs/deploy.md, "Register the API in Entra ID"). A v2.0 access token\'s audience is this id.')
param entraApiClientId string

@description('The API\'s App ID URI: the audience of v1.0 access tokens, and the resource `az account get-access-token --resource` asks for.')
param entraApiAppIdUri string = 'api://${entraApiClientId}'

@secure()
@description('azd: $(secretOrRandomPassword ...) generates it once and reads it back from the vault afterwards.')
param apiKeyPepper string

@secure()
@description('azd: generated like apiKeyPepper; push signing secrets are derived from it.')
param pushSigningMaster string

var abbrs = loadJsonContent('abbreviations.json')
var cosmosDefinitions = loadJsonContent('../src/adapters/cosmos/containers.json')
var token = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}conveyor-${token}'
var deploymentContainerName = 'app-package-${take(token, 12)}'
// Issuers per https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference (`iss`):
// a v2.0 token's ends in /v2.0; a v1.0 token's is the public cloud's sts.windows.net.
var jwtIssuerV2 = '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
var jwtIssuerV1 = 'https://sts.windows.net/${tenant().tenantId}/'

resource resourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: resourceGroup
  params: { name: '${abbrs.managedIdentityUserAssignedIdentities}conveyor-${token}', location: location, tags: tags }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: resourceGroup
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${token}'
    applicationInsightsName: '${abbrs.insightsComponents}${token}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: resourceGroup
  params: {
    name: '${abbrs.storageStorageAccounts}${token}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    zoneRedundant: zoneRedundant
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  scope: resourceGroup
  params: {
    accountName: '${abbrs.documentDBDatabaseAccounts}${token}'
    location: location
    failoverLocation: cosmosFailoverLocation
    zoneRedundant: zoneRedundant
    tags: tags
    serverless: cosmosServerless && empty(cosmosFailoverLocation)
  }
}

module serviceBus 'app/servicebus.bicep' = {
  name: 'servicebus'
  scope: resourceGroup
  params: { namespaceName: '${abbrs.serviceBusNamespaces}${token}', location: location, tags: tags, sku: serviceBusSku }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: resourceGroup
  params: {
    name: '${abbrs.keyVaultVaults}${take(token, 20)}'
    location: location
    tags: tags
    apiKeyPepper: apiKeyPepper
    pushSigningMaster: pushSigningMaster
  }
}

module webPubSub 'app/webpubsub.bicep' = {
  name: 'webpubsub'
  scope: resourceGroup
  params: { name: '${abbrs.signalRServiceWebPubSub}${token}', location: location, tags: tags, sku: webPubSubSku }
}

module functionApp 'app/function.bicep' = {
  name: 'function'
  scope: resourceGroup
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${token}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    cosmosAccountName: cosmos.outputs.accountName
    cosmosDatabaseName: cosmosDefinitions.database
    keyVaultName: keyVault.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    webPubSubName: webPubSub.outputs.name
    // The issuers and key sets of v2.0 and v1.0 access tokens; the audiences of each (src/api/auth.ts).
    jwtIssuers: [jwtIssuerV2, jwtIssuerV1]
    jwtAudiences: [entraApiClientId, entraApiAppIdUri]
    jwtJwksUris: [
      '${environment().authentication.loginEndpoint}${tenant().tenantId}/discovery/v2.0/keys'
      '${environment().authentication.loginEndpoint}${tenant().tenantId}/discovery/keys'
    ]
    maximumInstanceCount: maximumInstanceCount
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    zoneRedundant: zoneRedundant
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: resourceGroup
  params: {
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    storageAccountName: storage.outputs.name
    cosmosAccountName: cosmos.outputs.accountName
    serviceBusNamespaceName: serviceBus.outputs.namespaceName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    webPubSubName: webPubSub.outputs.name
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: resourceGroup
  params: {
    tags: tags
    namePrefix: '${abbrs.insightsMetricAlerts}${token}-'
    serviceBusNamespaceId: serviceBus.outputs.id
    applicationInsightsId: monitoring.outputs.applicationInsightsId
  }
}

// Names and endpoints only: no key, secret or connection string leaves the deployment.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output SERVICE_API_NAME string = functionApp.outputs.name
output SERVICE_API_URL string = 'https://${functionApp.outputs.defaultHostName}'
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URI string = keyVault.outputs.uri
output COSMOS__accountEndpoint string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output ServiceBusConnection__fullyQualifiedNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output WEB_PUBSUB_ENDPOINT string = webPubSub.outputs.endpoint
output CONVEYOR_JWT_ISSUER string = '${jwtIssuerV2},${jwtIssuerV1}'
output CONVEYOR_JWT_AUDIENCE string = '${entraApiClientId},${entraApiAppIdUri}'
output ENTRA_API_APP_ID_URI string = entraApiAppIdUri
