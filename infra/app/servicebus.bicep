@description('Service Bus: the deliveries queue that carries one job per push attempt.')
param namespaceName string
param location string
param tags object
@allowed(['Basic', 'Standard', 'Premium'])
param sku string = 'Standard'

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: { name: sku, tier: sku }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource deliveries 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: 'deliveries'
  properties: {
    // A job re-sent for the same message and attempt (id = message id + delivery count) is dropped.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
    // A job that keeps crashing its function lands in deliveries/$DeadLetterQueue, whose function dead-letters the message.
    maxDeliveryCount: 10
    lockDuration: 'PT2M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
  }
}

output namespaceName string = namespace.name
output id string = namespace.id
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ in the public cloud, another suffix elsewhere.
output fullyQualifiedNamespace string = split(split(namespace.properties.serviceBusEndpoint, '//')[1], ':')[0]
output queueName string = deliveries.name
