import type { TokenCredential } from "@azure/identity";
import { TelemetryClient } from "applicationinsights";
import type { MetricsSink } from "../../service/ports.js";

/**
 * Queue metrics as Application Insights custom metrics (what the alerts in
 * infra/app/alerts.bicep watch), sent with an Entra token: the component has
 * local (key) authentication off.
 */
export function applicationInsightsMetrics(
  connectionString: string,
  credential: TokenCredential,
): MetricsSink {
  const client = new TelemetryClient(connectionString, { useGlobalProviders: false });
  client.config.aadTokenCredential = credential;
  return {
    track(name, value, dimensions) {
      client.trackMetric({ name, value, properties: dimensions });
    },
  };
}
