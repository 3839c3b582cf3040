import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import semver from "semver";
import { beforeAll, describe, expect, it } from "vitest";
import definitions from "../../src/adapters/cosmos/containers.json" with { type: "json" };
import { SETTING_NAMES } from "../../src/config.js";
import { ROOT } from "../process.js";
import { bicep, findBicep } from "./bicep-cli.js";

/**
 * The infrastructure, compiled and linted with the Bicep CLI, and the
 * compiled ARM JSON checked for what matters: roles, settings, secrets,
 * containers and local auth.
 */
const found = findBicep();
if ("missing" in found) process.stdout.write(`\ninfra tests skipped: ${found.missing}\n`);

type Json = Record<string, unknown>;
interface Resource extends Json {
  type: string;
  name: string;
  properties: Json;
}
interface Template extends Json {
  parameters: Record<string, Json>;
  variables: Record<string, unknown>;
  resources: Resource[];
  outputs: Record<string, Json>;
}

const templates = [
  "infra/main.bicep",
  ...readdirSync(join(ROOT, "infra/app"))
    .filter((file) => file.endsWith(".bicep"))
    .map((file) => `infra/app/${file}`),
];

/** An azd parameter-file reference to an environment variable, `${NAME}` or `${NAME=default}`. */
const azd = (variable: string) => `\${${variable}}`;

function azdParameters(): Record<string, { value: string }> {
  return (
    JSON.parse(readFileSync(join(ROOT, "infra/main.parameters.json"), "utf8")) as {
      parameters: Record<string, { value: string }>;
    }
  ).parameters;
}

describe.skipIf("missing" in found)("infrastructure templates", () => {
  const cli = "path" in found ? found.path : "";
  let main: Template;
  const modules = new Map<string, Template>();
  const moduleParameters = new Map<string, Record<string, { value: unknown }>>();

  beforeAll(() => {
    const built = bicep(cli, ["build", "infra/main.bicep", "--stdout"]);
    expect(built.stderr).toBe("");
    main = JSON.parse(built.stdout) as Template;
    for (const resource of main.resources) {
      if (resource.type !== "Microsoft.Resources/deployments") continue;
      modules.set(resource.name, resource.properties.template as Template);
      moduleParameters.set(
        resource.name,
        resource.properties.parameters as Record<string, { value: unknown }>,
      );
    }
  });

  /** The ARM expression function.bicep and servicebus.bicep use to take the host out of an endpoint URL. */
  const hostOf = (endpoint: string) => `split(split(${endpoint}, '//')[1], ':')[0]`;
  /** What that expression evaluates to (ARM split and index, as JavaScript). */
  const armHostOf = (endpoint: string) => endpoint.split("//")[1]?.split(":")[0];

  const resourcesOf = (module: string, type: string): Resource[] =>
    (modules.get(module)?.resources ?? []).filter((resource) => resource.type === type);
  const only = (module: string, type: string): Resource => {
    const [resource] = resourcesOf(module, type);
    if (!resource) throw new Error(`no ${type} in module ${module}`);
    return resource;
  };

  it.each(templates)(
    "%s compiles and lints with no error and no warning",
    (file) => {
      const built = bicep(cli, ["build", file, "--stdout"]);
      expect(built.status).toBe(0);
      expect(built.stderr).toBe("");
      const lint = bicep(cli, ["lint", file, "--diagnostics-format", "sarif"]);
      const results = (
        JSON.parse(lint.stdout) as { runs: { results: { message: { text: string } }[] }[] }
      ).runs.flatMap((run) => run.results.map((result) => result.message.text));
      expect(results).toEqual([]);
      // Two CLI runs of a few seconds each, which a loaded machine stretches past the default 30 s.
    },
    120_000,
  );

  it("declares every resource in the project's own modules (no public registry references)", () => {
    for (const file of templates)
      expect(readFileSync(join(ROOT, file), "utf8")).not.toMatch(/br\/public:|br:/);
  });

  it("creates the Cosmos DB containers exactly as the adapter defines them", () => {
    // loadJsonContent inlines the file as a variable of its own.
    const variables = modules.get("cosmos")?.variables ?? {};
    expect(variables.definitions).toBe("[variables('$fxv#0')]");
    expect(variables["$fxv#0"]).toEqual(definitions);
    const containers = only("cosmos", "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers");
    expect(containers.copy).toMatchObject({ count: "[length(variables('definitions').containers)]" });
    const body = JSON.stringify(containers.properties);
    for (const part of ["partitionKey", "indexingPolicy", "defaultTtl"]) expect(body).toContain(part);
    expect(definitions.containers.map((container) => container.id)).toEqual([
      "queues",
      "messages",
      "keys",
      "topics",
      "topicMessages",
      "leases",
    ]);
    expect(definitions.containers.find((container) => container.id === "leases")?.partitionKey).toBe("/id");
  });

  it("keeps a topic's publish and fan-out in the topic's partition, with TTL for settled topic messages", () => {
    const byId = new Map(definitions.containers.map((container) => [container.id, container]));
    expect(byId.get("topics")).toMatchObject({ partitionKey: "/tenantId", defaultTtl: null });
    // TTL on, no default: only a settled topic message (and a dedup claim) carries an item `ttl`.
    expect(byId.get("topicMessages")).toMatchObject({ partitionKey: "/topicId", defaultTtl: -1 });
    const excluded = byId.get("topicMessages")?.indexingPolicy.excludedPaths.map(({ path }) => path);
    // What no query filters on is not indexed; `owing`, `sequence` and `publishedAt` stay indexed.
    for (const path of ["/body/?", "/attributes/*", "/copies/*", "/pending/*", "/filter/*"]) {
      expect(excluded).toContain(path);
    }
    for (const path of ["/owing/?", "/sequence/?", "/publishedAt/?"]) expect(excluded).not.toContain(path);
  });

  it("defines only composite indexes that an ORDER BY of the adapter uses (each costs RUs on every write)", () => {
    // The Cosmos DB adapter's queries, wherever its modules keep them.
    const adapter = join(ROOT, "src/adapters/cosmos");
    const store = readdirSync(adapter)
      .filter((file) => file.endsWith(".ts"))
      .map((file) => readFileSync(join(adapter, file), "utf8"))
      .join("\n");
    const orderings = new Set(
      [...store.matchAll(/ORDER BY ((?:c\.\w+(?: (?:ASC|DESC))?(?:, )?)+)/g)].map((match) =>
        (match[1] as string)
          .split(", ")
          .map((term) => {
            const [path, order = "ASC"] = term.split(" ");
            return `${path?.replace(/^c\./, "/")} ${order === "DESC" ? "descending" : "ascending"}`;
          })
          .join(", "),
      ),
    );
    const composites = definitions.containers.flatMap((container) =>
      (
        (container.indexingPolicy as { compositeIndexes?: { path: string; order: string }[][] })
          .compositeIndexes ?? []
      ).map((index) => `${container.id}: ${index.map(({ path, order }) => `${path} ${order}`).join(", ")}`),
    );
    for (const composite of composites)
      expect([composite, orderings.has(composite.replace(/^\w+: /, ""))]).toEqual([composite, true]);
  });

  it("disables local (key) authentication on every service that has it", () => {
    const keyless: [module: string, type: string, properties: Record<string, unknown>][] = [
      [
        "cosmos",
        "Microsoft.DocumentDB/databaseAccounts",
        { disableLocalAuth: true, minimalTlsVersion: "Tls12" },
      ],
      ["servicebus", "Microsoft.ServiceBus/namespaces", { disableLocalAuth: true, minimumTlsVersion: "1.2" }],
      ["monitoring", "Microsoft.Insights/components", { DisableLocalAuth: true }],
      [
        "storage",
        "Microsoft.Storage/storageAccounts",
        { allowSharedKeyAccess: false, allowBlobPublicAccess: false, minimumTlsVersion: "TLS1_2" },
      ],
      ["webpubsub", "Microsoft.SignalRService/webPubSub", { disableLocalAuth: true }],
      [
        "keyvault",
        "Microsoft.KeyVault/vaults",
        { enableRbacAuthorization: true, enableSoftDelete: true, enablePurgeProtection: true },
      ],
    ];
    for (const [module, type, properties] of keyless)
      expect(only(module, type).properties, type).toMatchObject(properties);
  });

  it("configures the deliveries queue for duplicate detection and dead-lettering", () => {
    const queue = only("servicebus", "Microsoft.ServiceBus/namespaces/queues");
    expect(queue.name).toContain("deliveries");
    expect(queue.properties).toMatchObject({
      requiresDuplicateDetection: true,
      deadLetteringOnMessageExpiration: true,
      maxDeliveryCount: 10,
      lockDuration: "PT2M",
    });
    expect(main.parameters.serviceBusSku).toMatchObject({ defaultValue: "Standard" });
  });

  it("runs the Function App on Flex Consumption, Node 22, as its user-assigned identity", () => {
    expect(only("function", "Microsoft.Web/serverfarms")).toMatchObject({
      sku: { name: "FC1", tier: "FlexConsumption" },
    });
    const site = only("function", "Microsoft.Web/sites");
    expect(site).toMatchObject({ kind: "functionapp,linux", identity: { type: "UserAssigned" } });
    expect(site.properties).toMatchObject({
      httpsOnly: true,
      functionAppConfig: {
        runtime: { name: "node", version: "22" },
        deployment: { storage: { authentication: { type: "UserAssignedIdentity" } } },
      },
    });
  });

  it("sets every setting the code needs on Azure, each pointing at its resource", () => {
    const settings = only("function", "Microsoft.Web/sites/config").properties as Record<string, string>;
    const conveyorSettings = Object.keys(settings).filter((name) =>
      /^(CONVEYOR_|COSMOS|KEY_VAULT)/.test(name),
    );
    // No setting the code does not know (a typo would be silently ignored at run time).
    for (const name of conveyorSettings.filter((name) => !name.startsWith("COSMOS__"))) {
      expect(SETTING_NAMES).toContain(name);
    }
    expect(settings.CONVEYOR_STORE).toBe("cosmos");
    expect(settings.COSMOS__accountEndpoint).toMatch(
      /Microsoft\.DocumentDB\/databaseAccounts.*parameters\('cosmosAccountName'\).*documentEndpoint/,
    );
    expect(settings.KEY_VAULT_URI).toMatch(
      /Microsoft\.KeyVault\/vaults.*parameters\('keyVaultName'\).*vaultUri/,
    );
    expect(settings.COSMOS_DATABASE).toBe("[parameters('cosmosDatabaseName')]");
    expect(settings.AzureWebJobsStorage__blobServiceUri).toMatch(
      /Microsoft\.Storage\/storageAccounts.*parameters\('storageAccountName'\)/,
    );
    // The host name out of the namespace's endpoint (https://<name>.servicebus.windows.net:443/), no suffix written here.
    expect(settings.ServiceBusConnection__fullyQualifiedNamespace).toBe(
      `[${hostOf("reference(resourceId('Microsoft.ServiceBus/namespaces', parameters('serviceBusNamespaceName')), '2024-01-01').serviceBusEndpoint")}]`,
    );
    expect(armHostOf("https://sb-x.servicebus.windows.net:443/")).toBe("sb-x.servicebus.windows.net");
    expect(JSON.stringify(main.outputs.ServiceBusConnection__fullyQualifiedNamespace)).toContain(
      "'servicebus'",
    );
    expect(modules.get("servicebus")?.outputs.fullyQualifiedNamespace?.value).toBe(
      `[${hostOf("reference(resourceId('Microsoft.ServiceBus/namespaces', parameters('namespaceName')), '2024-01-01').serviceBusEndpoint")}]`,
    );
    expect(JSON.stringify(main)).not.toContain("servicebus.windows.net");
    expect(settings.AZURE_CLIENT_ID).toBe("[parameters('identityClientId')]");
    for (const name of ["CONVEYOR_JWT_ISSUER", "CONVEYOR_JWT_AUDIENCE", "CONVEYOR_JWT_JWKS_URI"])
      expect(settings[name]).toBeTruthy();
    for (const connection of ["AzureWebJobsStorage", "COSMOS", "ServiceBusConnection"]) {
      expect(settings[`${connection}__credential`]).toBe("managedidentity");
    }

    const wiring = moduleParameters.get("function") ?? {};
    expect(JSON.stringify(wiring.cosmosAccountName)).toContain("'cosmos'");
    expect(JSON.stringify(wiring.keyVaultName)).toContain("'keyvault'");
    expect(JSON.stringify(wiring.storageAccountName)).toContain("'storage'");
    expect(JSON.stringify(wiring.serviceBusNamespaceName)).toContain("'servicebus'");
    expect(JSON.stringify(wiring.webPubSubName)).toContain("'webpubsub'");
    expect(settings.WEB_PUBSUB_ENDPOINT).toMatch(
      /Microsoft\.SignalRService\/webPubSub.*parameters\('webPubSubName'\).*hostName/,
    );
    expect(JSON.stringify(wiring.identityClientId)).toContain("'identity'");
    expect(wiring.cosmosDatabaseName).toEqual({ value: "[variables('cosmosDefinitions').database]" });
  });

  it("grants each principal the least role that works, with the built-in role ids", () => {
    const roles = modules.get("rbac")?.variables.roles as Record<string, string>;
    expect(roles).toEqual({
      storageBlobDataOwner: "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
      serviceBusDataSender: "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39",
      serviceBusDataReceiver: "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0",
      keyVaultSecretsUser: "4633458b-17de-408a-b874-0445c86b69e6",
      monitoringMetricsPublisher: "3913510d-42f4-4e42-8a64-420c390055eb",
      webPubSubServiceOwner: "12cf5a90-567b-43ae-8102-96cf46c7d9b4",
      cosmosBuiltInDataContributor: "00000000-0000-0000-0000-000000000002",
    });
    const assignments = resourcesOf("rbac", "Microsoft.Authorization/roleAssignments");
    const byRole: Record<string, Resource | undefined> = Object.fromEntries(
      assignments.map((assignment) => [
        /variables\('roles'\)\.(\w+)/.exec(String(assignment.properties.roleDefinitionId))?.[1],
        assignment,
      ]),
    );
    expect(Object.keys(byRole).sort()).toEqual([
      "keyVaultSecretsUser",
      "monitoringMetricsPublisher",
      "serviceBusDataReceiver",
      "serviceBusDataSender",
      "storageBlobDataOwner",
      "webPubSubServiceOwner",
    ]);
    const scopes: Record<string, string> = {
      storageBlobDataOwner: "Microsoft.Storage/storageAccounts",
      serviceBusDataSender: "Microsoft.ServiceBus/namespaces",
      serviceBusDataReceiver: "Microsoft.ServiceBus/namespaces",
      keyVaultSecretsUser: "Microsoft.KeyVault/vaults",
      monitoringMetricsPublisher: "Microsoft.Insights/components",
      webPubSubServiceOwner: "Microsoft.SignalRService/webPubSub",
    };
    for (const [role, assignment] of Object.entries(byRole)) {
      expect(String(assignment?.scope)).toContain(scopes[role]);
      expect(assignment?.properties.principalId).toMatch(/variables\('principals'\)\[copyIndex\(\)\]\.id/);
    }
    const cosmos = only("rbac", "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments");
    expect(String(cosmos.properties.roleDefinitionId)).toContain(
      "variables('roles').cosmosBuiltInDataContributor",
    );
    const principals = String(modules.get("rbac")?.variables.principals);
    expect(principals).toContain("parameters('appPrincipalId')");
    expect(principals).toContain("parameters('userPrincipalId')");
    // A pipeline's service principal gets a ServicePrincipal assignment, not a User one.
    expect(principals).toContain(
      "createObject('id', parameters('userPrincipalId'), 'type', parameters('userPrincipalType'))",
    );
    expect(principals).not.toContain("'User'");
    expect(modules.get("rbac")?.parameters.userPrincipalType).toMatchObject({
      allowedValues: ["User", "ServicePrincipal"],
    });
    const wiring = moduleParameters.get("rbac") ?? {};
    expect(JSON.stringify(wiring.appPrincipalId)).toContain("'identity'");
    expect(JSON.stringify(wiring.appPrincipalId)).toContain("principalId");
    expect(wiring.userPrincipalId).toEqual({ value: "[parameters('principalId')]" });
    expect(wiring.userPrincipalType).toEqual({ value: "[parameters('principalType')]" });
    const parameters = JSON.parse(readFileSync(join(ROOT, "infra/main.parameters.json"), "utf8")) as {
      parameters: Record<string, { value: string }>;
    };
    // azd substitutes AZURE_PRINCIPAL_TYPE itself (Azure/azure-dev bicep_provider.go, evalParamEnvSubst).
    expect(parameters.parameters.principalType?.value).toBe(azd("AZURE_PRINCIPAL_TYPE"));
  });

  it("makes every region zone-redundant where the tier allows it, by one parameter (on by default)", () => {
    expect(main.parameters.zoneRedundant).toMatchObject({ type: "bool", defaultValue: true });
    expect(azdParameters().zoneRedundant?.value).toBe(azd("CONVEYOR_ZONE_REDUNDANT=true"));
    for (const module of ["storage", "cosmos", "function"])
      expect(moduleParameters.get(module)?.zoneRedundant).toEqual({ value: "[parameters('zoneRedundant')]" });
    // A zone-redundant Flex Consumption plan needs zone-redundant storage (reliability-functions.md).
    expect(only("storage", "Microsoft.Storage/storageAccounts").sku).toEqual({
      name: "[if(parameters('zoneRedundant'), 'Standard_ZRS', 'Standard_LRS')]",
    });
    expect(only("function", "Microsoft.Web/serverfarms").properties).toMatchObject({
      zoneRedundant: "[parameters('zoneRedundant')]",
    });
    const locations = String(only("cosmos", "Microsoft.DocumentDB/databaseAccounts").properties.locations);
    expect(locations).toContain(
      "createObject('locationName', parameters('location'), 'failoverPriority', 0, 'isZoneRedundant', parameters('zoneRedundant'))",
    );
  });

  it("adds a Cosmos DB failover region with service-managed failover, by one parameter", () => {
    expect(main.parameters.cosmosFailoverLocation).toMatchObject({ type: "string", defaultValue: "" });
    expect(azdParameters().cosmosFailoverLocation?.value).toBe(azd("CONVEYOR_COSMOS_FAILOVER_LOCATION="));
    const wiring = moduleParameters.get("cosmos") ?? {};
    expect(wiring.failoverLocation).toEqual({ value: "[parameters('cosmosFailoverLocation')]" });
    // A serverless account runs in one region only (Cosmos DB serverless.md): a second region means autoscale.
    expect(wiring.serverless).toEqual({
      value: "[and(parameters('cosmosServerless'), empty(parameters('cosmosFailoverLocation')))]",
    });
    const account = only("cosmos", "Microsoft.DocumentDB/databaseAccounts").properties;
    expect(String(account.locations)).toContain(
      "if(empty(parameters('failoverLocation')), createArray(), createArray(createObject('locationName', parameters('failoverLocation'), 'failoverPriority', 1, 'isZoneRedundant', parameters('zoneRedundant'))))",
    );
    expect(account).toMatchObject({
      enableAutomaticFailover: "[not(empty(parameters('failoverLocation')))]",
      // One write region keeps leases, deduplication and fifo order on one copy (docs/deploy.md).
      enableMultipleWriteLocations: false,
      consistencyPolicy: { defaultConsistencyLevel: "Session" },
    });
  });

  it("turns off the Functions home page so GET / reaches the console", () => {
    const settings = only("function", "Microsoft.Web/sites/config").properties as Record<string, string>;
    expect(settings.AzureWebJobsDisableHomepage).toBe("true");
    const host = JSON.parse(readFileSync(join(ROOT, "host.json"), "utf8")) as {
      extensions: { http: { routePrefix: string } };
    };
    expect(host.extensions.http.routePrefix).toBe("");
  });

  it("lets one instance hold many concurrent HTTP requests, long polls included", () => {
    const site = only("function", "Microsoft.Web/sites");
    expect(site.properties).toMatchObject({
      functionAppConfig: {
        scaleAndConcurrency: {
          triggers: { http: { perInstanceConcurrency: "[parameters('httpPerInstanceConcurrency')]" } },
        },
      },
    });
    expect(main.parameters.httpPerInstanceConcurrency).toMatchObject({ type: "int", defaultValue: 100 });
    expect(moduleParameters.get("function")?.httpPerInstanceConcurrency).toEqual({
      value: "[parameters('httpPerInstanceConcurrency')]",
    });
    // A cap below 40 (to spare a small Cosmos DB budget) is allowed now: event-driven-scaling.md#limit-scale-out.
    expect(main.parameters.maximumInstanceCount).toMatchObject({ minValue: 1, maxValue: 1000 });
  });

  it("accepts the v2.0 and v1.0 tokens of the API's own app registration", () => {
    const tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    const api = "6e74172b-be56-4843-9ff4-e66a39bb12e3";
    // The ARM expressions, evaluated for the public cloud.
    const known: Record<string, string> = {
      "environment().authentication.loginEndpoint": "https://login.microsoftonline.com/",
      "tenant().tenantId": tenant,
      "parameters('entraApiClientId')": api,
    };
    const evaluate = (expression: string): string => {
      const inner = expression.replace(/^\[(.*)\]$/, "$1");
      const call = /^format\('([^']*)', (.*)\)$/.exec(inner);
      if (!call)
        return (
          known[inner] ??
          String(evaluate(String(main.variables[inner.replace(/^variables\('(.*)'\)$/, "$1")])))
        );
      const args = (call[2] as string).split(", ").map((arg) => known[arg] ?? evaluate(`[${arg}]`));
      return (call[1] as string).replace(/\{(\d)\}/g, (_match, index: string) => args[Number(index)] ?? "");
    };
    const wiring = moduleParameters.get("function") ?? {};
    expect(((wiring.jwtIssuers?.value ?? []) as string[]).map(evaluate)).toEqual([
      `https://login.microsoftonline.com/${tenant}/v2.0`,
      `https://sts.windows.net/${tenant}/`,
    ]);
    expect(((wiring.jwtJwksUris?.value ?? []) as string[]).map(evaluate)).toEqual([
      `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`,
      `https://login.microsoftonline.com/${tenant}/discovery/keys`,
    ]);
    expect(wiring.jwtAudiences).toEqual({
      value: ["[parameters('entraApiClientId')]", "[parameters('entraApiAppIdUri')]"],
    });
    expect(evaluate(String(main.parameters.entraApiAppIdUri?.defaultValue))).toBe(`api://${api}`);
    // No default: azd prompts for the client id, or takes it from CONVEYOR_ENTRA_API_CLIENT_ID.
    expect(main.parameters.entraApiClientId).toMatchObject({ type: "string", minLength: 36 });
    expect(main.parameters.entraApiClientId).not.toHaveProperty("defaultValue");
    expect(azdParameters().entraApiClientId?.value).toBe(azd("CONVEYOR_ENTRA_API_CLIENT_ID"));
    const settings = only("function", "Microsoft.Web/sites/config").properties as Record<string, string>;
    expect(settings.CONVEYOR_JWT_ISSUER).toBe("[join(parameters('jwtIssuers'), ',')]");
    expect(settings.CONVEYOR_JWT_AUDIENCE).toBe("[join(parameters('jwtAudiences'), ',')]");
    expect(settings.CONVEYOR_JWT_JWKS_URI).toBe("[join(parameters('jwtJwksUris'), ',')]");
  });

  it("puts no key, connection string with a secret, or password in settings, parameters or outputs", () => {
    const compiled = JSON.stringify(main);
    for (const forbidden of [
      /listKeys/i,
      /listConnectionStrings/i,
      /AccountKey=/i,
      /SharedAccessKey/i,
      /primaryKey/i,
    ]) {
      expect(compiled).not.toMatch(forbidden);
    }
    const settings = only("function", "Microsoft.Web/sites/config").properties as Record<string, string>;
    for (const [name, value] of Object.entries(settings)) {
      expect(name).not.toMatch(/key$|secret|password/i);
      expect(value).not.toMatch(/key=|secret=|password=/i);
    }
    for (const secret of ["apiKeyPepper", "pushSigningMaster"]) {
      expect(main.parameters[secret]?.type).toBe("securestring");
      expect(modules.get("keyvault")?.parameters[secret]?.type).toBe("securestring");
    }
    for (const [name, output] of Object.entries(main.outputs)) {
      expect([name, output.type]).toEqual([name, "string"]);
      expect(name).not.toMatch(/key$|secret|password|connectionstring/i);
    }
    const parameters = JSON.parse(readFileSync(join(ROOT, "infra/main.parameters.json"), "utf8")) as {
      parameters: Record<string, { value: string }>;
    };
    expect(parameters.parameters.apiKeyPepper?.value).toMatch(/^\$\(secretOrRandomPassword /);
    expect(parameters.parameters.pushSigningMaster?.value).toMatch(/^\$\(secretOrRandomPassword /);
  });

  it("alerts on dead-letter growth and backlog age", () => {
    const alerts = resourcesOf("alerts", "Microsoft.Insights/metricAlerts").map((alert) =>
      JSON.stringify(alert),
    );
    expect(
      alerts.some((alert) => alert.includes("DeadletteredMessages") && alert.includes("deliveries")),
    ).toBe(true);
    expect(alerts.some((alert) => alert.includes("conveyor.dead_lettered"))).toBe(true);
    expect(alerts.some((alert) => alert.includes("conveyor.oldest_age_seconds"))).toBe(true);
  });
});

describe("azd", () => {
  it("declares the api service as a TypeScript function app built remotely, with the postprovision hook", () => {
    const manifest = readFileSync(join(ROOT, "azure.yaml"), "utf8");
    expect(manifest).toMatch(
      /services:\s+api:\s+project: \.\s+language: ts\s+host: function\s+remoteBuild: true/,
    );
    expect(manifest).toMatch(/postprovision:[\s\S]*run: node infra\/scripts\/write-local-settings\.mjs/);
  });

  it("the postprovision hook writes local.settings.json from the environment's outputs, and nothing secret", async () => {
    const { execFileSync } = await import("node:child_process");
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const target = join(mkdtempSync(join(tmpdir(), "conveyor-azd-")), "local.settings.json");
    execFileSync(process.execPath, [join(ROOT, "infra/scripts/write-local-settings.mjs")], {
      env: {
        PATH: process.env.PATH,
        LOCAL_SETTINGS_PATH: target,
        AZURE_TENANT_ID: "00000000-0000-0000-0000-0000000000aa",
        COSMOS__accountEndpoint: "https://cosmos-x.documents.azure.com:443/",
        COSMOS_DATABASE: "conveyor",
        KEY_VAULT_URI: "https://kv-x.vault.azure.net/",
        ServiceBusConnection__fullyQualifiedNamespace: "sb-x.servicebus.windows.net",
        CONVEYOR_JWT_AUDIENCE:
          "6e74172b-be56-4843-9ff4-e66a39bb12e3,api://6e74172b-be56-4843-9ff4-e66a39bb12e3",
      },
    });
    const written = JSON.parse(readFileSync(target, "utf8")) as { Values: Record<string, string> };
    expect(written.Values).toMatchObject({
      CONVEYOR_STORE: "cosmos",
      COSMOS__accountEndpoint: "https://cosmos-x.documents.azure.com:443/",
      KEY_VAULT_URI: "https://kv-x.vault.azure.net/",
      CONVEYOR_JWT_ISSUER:
        "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/v2.0,https://sts.windows.net/00000000-0000-0000-0000-0000000000aa/",
      CONVEYOR_JWT_JWKS_URI:
        "https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/discovery/v2.0/keys,https://login.microsoftonline.com/00000000-0000-0000-0000-0000000000aa/discovery/keys",
      AzureWebJobsDisableHomepage: "true",
    });
    for (const name of Object.keys(written.Values))
      expect(SETTING_NAMES.includes(name) || !/^CONVEYOR_|^COSMOS_|^KEY_VAULT/.test(name)).toBe(true);
    expect(JSON.stringify(written)).not.toMatch(/key=|secret|password/i);
  });

  it("pins engines.node to the major version the Function App runs, still admitting this Node for local work", () => {
    const bicep = readFileSync(join(ROOT, "infra/app/function.bicep"), "utf8");
    const runtime = /runtime: \{ name: 'node', version: '(\d+)' \}/.exec(bicep)?.[1];
    expect(runtime).toBe("22");
    const { engines } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      engines: { node: string };
    };
    // Open above the runtime's major, the range would promise a Node the Function App does not run.
    expect(semver.satisfies(`${runtime}.0.0`, engines.node)).toBe(true);
    expect(semver.satisfies(`${Number(runtime) + 1}.0.0`, engines.node)).toBe(false);
    expect(semver.satisfies(process.version, engines.node)).toBe(true);
  });

  it("the postprovision hook refuses to run without the outputs", async () => {
    const { spawnSync } = await import("node:child_process");
    const result = spawnSync(process.execPath, [join(ROOT, "infra/scripts/write-local-settings.mjs")], {
      env: { PATH: process.env.PATH },
      encoding: "utf8",
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/lacks COSMOS__accountEndpoint/);
  });
});

describe("local.settings.sample.json", () => {
  it("lists every setting the code reads, with identity-based connection names", () => {
    const sample = JSON.parse(readFileSync(join(ROOT, "local.settings.sample.json"), "utf8")) as {
      Values: Record<string, string>;
    };
    expect(
      Object.keys(sample.Values)
        .filter((name) => SETTING_NAMES.includes(name))
        .sort(),
    ).toEqual([...SETTING_NAMES].sort());
    expect(sample.Values).toHaveProperty("COSMOS__accountEndpoint");
    expect(sample.Values).toHaveProperty("ServiceBusConnection__fullyQualifiedNamespace");
    for (const [name, value] of Object.entries(sample.Values)) {
      expect([name, value]).not.toEqual([name, expect.stringMatching(/AccountKey=|SharedAccessKey=/)]);
    }
  });
});
