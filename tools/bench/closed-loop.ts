/**
 * Closed-loop load for the benchmarks: `wrk` (one thread, N keep-alive connections) when it is
 * installed, otherwise N keep-alive Node request loops, which are slower and likely the
 * bottleneck (reports say which ran). Loopback only, bounded by `seconds`.
 */
import { assertLoopback } from "../load/loopback.ts";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import http from "node:http";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const WRK_PATHS = ["/usr/bin/wrk", "/usr/local/bin/wrk"];

export interface Throughput {
  rps: number;
  requests: number;
  non2xx: number;
  /** Connect, read, write and timeout errors. */
  errors: number;
}

/** A POST body, also written to `file` for wrk's Lua script. */
export interface LoadBody {
  bytes: Buffer;
  file: string;
  contentType: string;
}

export interface LoadOptions {
  seconds: number;
  connections: number;
  /** Run wrk on this CPU (taskset). */
  pinCpu?: number | null;
  /** POST this body; GET without one. */
  body?: LoadBody;
}

export function wrkPath(): string | undefined {
  return WRK_PATHS.find((file) => existsSync(file));
}

export function generatorName(connections: number): string {
  return wrkPath()
    ? `wrk -t1 -c${connections}`
    : `Node, ${connections} keep-alive loops (likely the bottleneck: install wrk)`;
}

/** Requests `url` in a closed loop for `seconds`. */
export async function closedLoop(url: string, options: LoadOptions): Promise<Throughput> {
  assertLoopback(url);
  const wrk = wrkPath();
  return wrk ? wrkRun(wrk, url, options) : nodeRun(url, options);
}

async function wrkRun(wrk: string, url: string, options: LoadOptions): Promise<Throughput> {
  const args = ["-t1", `-c${options.connections}`, `-d${options.seconds}s`, "--timeout", "5s"];
  if (options.body) {
    const script = `${options.body.file}.lua`;
    await writeFile(
      script,
      [
        `local f = assert(io.open(${JSON.stringify(options.body.file)}, "rb"))`,
        "wrk.body = f:read('*a')",
        "f:close()",
        'wrk.method = "POST"',
        `wrk.headers["Content-Type"] = ${JSON.stringify(options.body.contentType)}`,
      ].join("\n"),
    );
    args.push("-s", script);
  }
  args.push(url);
  const pin = options.pinCpu ?? null;
  const { stdout } =
    pin === null
      ? await execFileAsync(wrk, args)
      : await execFileAsync("taskset", ["-c", String(pin), wrk, ...args]);
  const { seconds: _seconds, ...throughput } = parseWrkOutput(stdout);
  return throughput;
}

/** Requests, rate, non-2xx answers and socket errors from wrk's summary. */
export function parseWrkOutput(stdout: string): Throughput & { seconds: number } {
  const counted = /(\d+) requests in ([\d.]+)(m?s)/.exec(stdout);
  if (!counted) throw new Error(`cannot read wrk output:\n${stdout}`);
  const seconds = Number(counted[2]) / (counted[3] === "ms" ? 1000 : 1);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  return {
    rps: Number(counted[1]) / seconds,
    requests: Number(counted[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0),
    errors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    seconds,
  };
}

async function nodeRun(url: string, options: LoadOptions): Promise<Throughput> {
  const deadline = performance.now() + options.seconds * 1000;
  const result: Throughput = { rps: 0, requests: 0, non2xx: 0, errors: 0 };
  const body = options.body;
  const loop = async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (performance.now() < deadline) {
        await new Promise<void>((resolve) => {
          const request = http.request(
            url,
            {
              method: body ? "POST" : "GET",
              agent,
              headers: body ? { "content-type": body.contentType, "content-length": body.bytes.length } : {},
            },
            (response) => {
              response.resume();
              response.on("end", () => {
                if ((response.statusCode ?? 0) >= 300) result.non2xx++;
                result.requests++;
                resolve();
              });
            },
          );
          request.on("error", () => {
            result.errors++;
            resolve();
          });
          request.end(body?.bytes);
        });
      }
    } finally {
      agent.destroy();
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: options.connections }, loop));
  result.rps = result.requests / ((performance.now() - start) / 1000);
  return result;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
