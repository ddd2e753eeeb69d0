// as-pect runs the AssemblyScript unit tests: the SDK's (assembly/__tests__) and each filter's
// (filters/<name>/assembly/__tests__). Tested code is pure logic; host calls are not linked here.
export default {
  entries: ["assembly/__tests__/**/*.spec.ts", "filters/*/assembly/__tests__/**/*.spec.ts"],
  include: [],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
