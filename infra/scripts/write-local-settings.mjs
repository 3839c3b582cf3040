// azd postprovision hook: writes local.settings.json from the environment's
// outputs (azd passes them to hooks as environment variables), so the
// Functions host started with `func start` reaches the provisioned resources
// with the developer's own Entra identity. Only names and endpoints are
// written; there are no secrets to write.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";

const required = [
  "COSMOS__accountEndpoint",
  "COSMOS_DATABASE",
  "KEY_VAULT_URI",
  "ServiceBusConnection__fullyQualifiedNamespace",
  "AZURE_TENANT_ID",
];
const missing = required.filter((name) => !process.env[name]);
if (missing.length > 0) {
  process.stderr.write(
    `write-local-settings: the environment lacks ${missing.join(", ")}; it runs as azd's postprovision hook\n`,
  );
  process.exit(1);
}

const env = process.env;
const login = `https://login.microsoftonline.com/${env.AZURE_TENANT_ID}`;
const target = resolve(env.LOCAL_SETTINGS_PATH ?? "local.settings.json");
const settings = {
  IsEncrypted: false,
  Values: {
    FUNCTIONS_WORKER_RUNTIME: "node",
    AzureWebJobsStorage: "UseDevelopmentStorage=true",
    CONVEYOR_STORE: "cosmos",
    COSMOS__accountEndpoint: env.COSMOS__accountEndpoint,
    COSMOS_DATABASE: env.COSMOS_DATABASE,
    KEY_VAULT_URI: env.KEY_VAULT_URI,
    ServiceBusConnection__fullyQualifiedNamespace: env.ServiceBusConnection__fullyQualifiedNamespace,
    // The same v2.0 and v1.0 issuers and key sets the Function App accepts (infra/main.bicep).
    CONVEYOR_JWT_ISSUER:
      env.CONVEYOR_JWT_ISSUER ?? `${login}/v2.0,https://sts.windows.net/${env.AZURE_TENANT_ID}/`,
    CONVEYOR_JWT_JWKS_URI: `${login}/discovery/v2.0/keys,${login}/discovery/keys`,
    AzureWebJobsDisableHomepage: "true",
    ...(env.CONVEYOR_JWT_AUDIENCE ? { CONVEYOR_JWT_AUDIENCE: env.CONVEYOR_JWT_AUDIENCE } : {}),
  },
};
writeFileSync(target, `${JSON.stringify(settings, null, 2)}\n`);
process.stdout.write(`write-local-settings: wrote ${target}\n`);
