@description('The Function App on the Flex Consumption plan, running as its user-assigned identity. No key or secret is in its settings: every connection is identity-based.')
param name string
param planName string
param location string
param tags object
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param cosmosAccountName string
param cosmosDatabaseName string
param keyVaultName string
param serviceBusNamespaceName string
param webPubSubName string
param jwtIssuers array
param jwtAudiences array
param jwtJwksUris array
param maximumInstanceCount int = 100
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@description('functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency: the platform adds an instance per this many concurrent HTTP requests.')
@minValue(1)
param httpPerInstanceConcurrency int = 100
@description('Spreads the plan\'s instances across availability zones; needs zone-redundant storage, and keeps two always-ready instances per scale group (reliability-functions, Flex Consumption).')
param zoneRedundant bool = false

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}
resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}
resource cosmos 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' existing = {
  name: cosmosAccountName
}
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}
resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName
}
resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' existing = {
  name: webPubSubName
}

var serviceBusHost = split(split(serviceBus.properties.serviceBusEndpoint, '//')[1], ':')[0]

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true, zoneRedundant: zoneRedundant }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identityId }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // An instance is billed while any request on it executes, long polls included: the more
        // requests share one, the fewer instances are billed for the same waiting (docs/deploy.md).
        triggers: { http: { perInstanceConcurrency: httpPerInstanceConcurrency } }
      }
      runtime: { name: 'node', version: '22' }
    }
  }
}

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // The Functions host's own storage, through the identity.
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identityClientId
    // Telemetry, authenticated with Entra ID (local auth is off on the component).
    APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
    // DefaultAzureCredential in the app picks the user-assigned identity by this id.
    AZURE_CLIENT_ID: identityClientId
    CONVEYOR_STORE: 'cosmos'
    COSMOS__accountEndpoint: cosmos.properties.documentEndpoint
    COSMOS__credential: 'managedidentity'
    COSMOS__clientId: identityClientId
    COSMOS_DATABASE: cosmosDatabaseName
    KEY_VAULT_URI: vault.properties.vaultUri
    // The namespace's own endpoint, as a host name: serviceBusEndpoint reads https://<name>.servicebus.windows.net:443/
    // in the public cloud (Service Bus REST API, namespaces Get example), another suffix in other clouds.
    ServiceBusConnection__fullyQualifiedNamespace: serviceBusHost
    ServiceBusConnection__credential: 'managedidentity'
    ServiceBusConnection__clientId: identityClientId
    WEB_PUBSUB_ENDPOINT: 'https://${webPubSub.properties.hostName}'
    CONVEYOR_JWT_ISSUER: join(jwtIssuers, ',')
    CONVEYOR_JWT_AUDIENCE: join(jwtAudiences, ',')
    CONVEYOR_JWT_JWKS_URI: join(jwtJwksUris, ',')
    // GET / is the console's route; without this the host answers an unmatched / with its own page
    // (Azure/azure-functions-host src/WebJobs.Script.WebHost/Middleware/HomepageMiddleware.cs).
    AzureWebJobsDisableHomepage: 'true'
    // Several instances share the queues: a long poll re-reads the store at least this often.
    CONVEYOR_LONG_POLL_FALLBACK_MS: '1000'
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
