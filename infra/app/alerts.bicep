@description('Metric alerts: dead-letter growth and backlog age.')
param tags object
param namePrefix string
param serviceBusNamespaceId string
param applicationInsightsId string
@description('Alert when the oldest available message of any queue is older than this.')
param backlogAgeThresholdSeconds int = 600

resource pushJobsDeadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}push-jobs-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Push delivery jobs are landing in deliveries/$DeadLetterQueue: the delivery function keeps crashing.'
    severity: 2
    enabled: true
    scopes: [serviceBusNamespaceId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadletteredMessages'
          metricName: 'DeadletteredMessages'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          dimensions: [{ name: 'EntityName', operator: 'Include', values: ['deliveries'] }]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
  }
}

// Conveyor's own metrics arrive as Application Insights custom metrics; they do not exist
// before the first one is sent, hence skipMetricValidation.
resource messagesDeadLettered 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}messages-dead-lettered'
  location: 'global'
  tags: tags
  properties: {
    description: 'Messages are being dead-lettered (max deliveries, expiry, rejection or failed push).'
    severity: 3
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'DeadLettered'
          metricName: 'conveyor.dead_lettered'
          metricNamespace: 'azure.applicationinsights'
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Total'
          skipMetricValidation: true
        }
      ]
    }
  }
}

resource backlogAge 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}backlog-age'
  location: 'global'
  tags: tags
  properties: {
    description: 'A queue\'s oldest available message is older than ${backlogAgeThresholdSeconds} s: consumers are not keeping up.'
    severity: 2
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'OldestAge'
          metricName: 'conveyor.oldest_age_seconds'
          metricNamespace: 'azure.applicationinsights'
          operator: 'GreaterThan'
          threshold: backlogAgeThresholdSeconds
          timeAggregation: 'Maximum'
          skipMetricValidation: true
        }
      ]
    }
  }
}
