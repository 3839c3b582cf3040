@description('Web PubSub: carries live queue events to dashboards on Azure.')
param name string
param location string
param tags object
@allowed(['Free_F1', 'Standard_S1'])
param sku string = 'Free_F1'

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: sku, capacity: 1 }
  properties: {
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

output name string = webPubSub.name
output id string = webPubSub.id
output endpoint string = 'https://${webPubSub.properties.hostName}'
