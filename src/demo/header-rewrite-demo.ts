import { wasmHttpFilter } from "../envoy/wasm-filter.ts";
import { EnvoyProcess } from "../envoy/launcher.ts";
import { envoyVersion, resolveEnvoyBinary } from "../envoy/binary.ts";
import { filterInfo } from "../filters/catalog.ts";
import { EchoUpstream, type EchoedRequest } from "../upstream/echo.ts";

const DEMO_CONFIG = {
  injection_id: "demo-1",
  rules: [
    {
      name: "tag-api",
      match: { methods: ["GET"], path: { prefix: "/api/" } },
      request: [
        { op: "set", name: "x-graft-injection", value: "${injection_id}" },
        { op: "remove", name: "x-internal-token" },
      ],
      response: [
        { op: "set", name: "x-served-for", value: "${request.header.x-user}" },
        { op: "remove", name: "x-echo-upstream" },
      ],
    },
  ],
};

/** Starts echo + Envoy with header-rewrite, sends a matching and a non-matching request, reports. */
export async function runHeaderRewriteDemo(print: (line: string) => void): Promise<void> {
  const version = await envoyVersion(resolveEnvoyBinary({ install: true }));
  const echo = await EchoUpstream.start();
  const info = filterInfo("header-rewrite");
  const envoy = await EnvoyProcess.start({
    label: "demo-envoy",
    upstream: { host: "127.0.0.1", port: echo.port },
    listeners: [
      {
        name: "main",
        httpFilters: [wasmHttpFilter({ name: info.name, rootId: info.rootId, wasmPath: info.releaseWasm, configuration: DEMO_CONFIG })],
      },
    ],
  });
  try {
    const url = await envoy.listenerUrl("main");
    print(`\nEnvoy ${version.version} is serving ${url} with header-rewrite (injection demo-1)\n`);
    for (const target of ["/api/orders", "/static/logo.png"]) {
      const sent = { "x-user": "alice", "x-internal-token": "s3cr3t" };
      const response = await fetch(url + target, { headers: sent });
      const upstream = (await response.json()) as EchoedRequest;
      print(`GET ${target}  (sent x-user: alice, x-internal-token: s3cr3t)`);
      print(`  upstream saw   x-graft-injection: ${upstream.headers["x-graft-injection"] ?? "(none)"}, x-internal-token: ${upstream.headers["x-internal-token"] ?? "(removed)"}`);
      print(`  client got     x-served-for: ${response.headers.get("x-served-for") ?? "(none)"}, x-echo-upstream: ${response.headers.get("x-echo-upstream") ?? "(removed)"}`);
    }
    const prometheus = await envoy.admin.prometheus();
    print("\nFilter metrics from /stats/prometheus:");
    for (const line of prometheus.split("\n").filter((l) => l.startsWith("graft_"))) print(`  ${line}`);
  } finally {
    await envoy.stop();
    await echo.stop();
  }
}
