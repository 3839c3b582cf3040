@description('Cosmos DB for NoSQL: the queues\' store. Containers come from the same file the adapter reads.')
param accountName string
param location string
@description('A second region: a read replica that service-managed failover promotes when the write region is lost; empty for one region.')
param failoverLocation string = ''
@description('Replicas spread across the availability zones of each region; fixed when a region is added.')
param zoneRedundant bool = false
param tags object
@description('Serverless costs nothing while idle but bursts only so far; provisioned autoscale throughput serves steady load.')
param serverless bool = true
@description('With serverless off: the database\'s autoscale maximum, shared by its containers.')
@minValue(1000)
param autoscaleMaxThroughput int = 4000

// One definition of partition keys, indexes and TTL, shared with src/adapters/cosmos/store.ts.
var definitions = loadJsonContent('../../src/adapters/cosmos/containers.json')

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: accountName
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    // One write region. With a second region, Microsoft fails the writes over to it when the first is
    // lost (enableAutomaticFailover, "service-managed failover" in the reliability guide).
    locations: concat(
      [{ locationName: location, failoverPriority: 0, isZoneRedundant: zoneRedundant }],
      empty(failoverLocation) ? [] : [{ locationName: failoverLocation, failoverPriority: 1, isZoneRedundant: zoneRedundant }]
    )
    enableAutomaticFailover: !empty(failoverLocation)
    enableMultipleWriteLocations: false
    consistencyPolicy: { defaultConsistencyLevel: 'Session' }
    // Serverless: no charge while idle; see docs/deploy.md for when provisioned throughput pays off.
    capabilities: serverless ? [{ name: 'EnableServerless' }] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: definitions.database
  properties: {
    resource: { id: definitions.database }
    options: serverless ? {} : { autoscaleSettings: { maxThroughput: autoscaleMaxThroughput } }
  }
}

resource containers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for container in definitions.containers: {
    parent: database
    name: container.id
    properties: {
      resource: union(
        {
          id: container.id
          partitionKey: { paths: [container.partitionKey], kind: 'Hash', version: 2 }
          indexingPolicy: container.indexingPolicy
        },
        container.defaultTtl == null ? {} : { defaultTtl: container.defaultTtl }
      )
    }
  }
]

output accountName string = account.name
output endpoint string = account.properties.documentEndpoint
output databaseName string = database.name
