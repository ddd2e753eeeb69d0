// as-pect runs the AssemblyScript unit tests: the SDK's (assembly/__tests__) and each filter's
// (filters/<name>/assembly/__tests__). Each spec file gets its own fake proxy-wasm host
// (assembly/__tests__/fake-host.js): the SDK's host wrappers are tested against it, and a spec
// arranges and inspects it through assembly/__tests__/fake-host.ts.
import { FakeHost } from "./assembly/__tests__/fake-host.js";

export default {
  entries: ["assembly/__tests__/**/*.spec.ts", "filters/*/assembly/__tests__/**/*.spec.ts"],
  include: [],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    const host = new FakeHost();
    const module = await instantiate(
      binary,
      createImports({ env: { memory, ...host.env() }, fake_host: host.control() }),
    );
    host.bind(module.exports);
    return module;
  },
  outputBinary: false,
};
