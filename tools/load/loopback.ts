/** Throws unless `url` points at this machine's loopback: graft's loads never leave the host. */
export function assertLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!(host === "localhost" || host === "[::1]" || host.startsWith("127."))) {
    throw new Error(`refusing to send load to ${url}: graft's loads and benchmarks target loopback only`);
  }
}
