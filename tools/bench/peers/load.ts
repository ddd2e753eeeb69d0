// The load: wrk for saturation (closed loop, pinned to the load generator's CPU), and our own
// fixed-rate HTTP/1.1 client for latency (open loop: each request has a scheduled send time and its
// latency counts from then, so a stalled server cannot hide its queue: no coordinated omission).
// Loopback only, bounded in time.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import net from "node:net";
import { promisify } from "node:util";
import { assertLoopback } from "../../load/loopback.ts";
import { parseWrkOutput, wrkPath } from "../closed-loop.ts";

const execFileAsync = promisify(execFile);

export interface RequestSpec {
  method: "GET" | "POST";
  headers: Record<string, string>;
  body?: Buffer;
  /** The body in a file (wrk's Lua script reads it). */
  bodyFile?: string;
}

export interface Saturation {
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  seconds: number;
}

/** wrk -t1 -cN for `seconds`, pinned to `cpu`. */
export async function saturate(
  url: string,
  spec: RequestSpec,
  options: { seconds: number; connections: number; cpu: number | null },
): Promise<Saturation> {
  assertLoopback(url);
  const wrk = wrkPath();
  if (!wrk) throw new Error("wrk is not installed (apt-get install wrk)");
  const args = ["-t1", `-c${options.connections}`, `-d${options.seconds}s`, "--timeout", "5s"];
  for (const [name, value] of Object.entries(spec.headers)) args.push("-H", `${name}: ${value}`);
  if (spec.method === "POST") {
    if (!spec.bodyFile) throw new Error("a POST needs its body in a file");
    const script = `${spec.bodyFile}.lua`;
    await writeFile(
      script,
      [
        `local f = assert(io.open(${JSON.stringify(spec.bodyFile)}, "rb"))`,
        "wrk.body = f:read('*a')",
        "f:close()",
        'wrk.method = "POST"',
      ].join("\n"),
    );
    args.push("-s", script);
  }
  args.push(url);
  const command =
    options.cpu === null ? [wrk, ...args] : ["taskset", "-c", String(options.cpu), wrk, ...args];
  const { stdout } = await execFileAsync(command[0]!, command.slice(1), {
    timeout: (options.seconds + 30) * 1000,
  });
  return parseWrkOutput(stdout);
}

export interface FixedRateResult {
  rate: number;
  sent: number;
  completed: number;
  /** Requests never sent: the backlog passed one second of load (the server fell behind). */
  dropped: number;
  errors: number;
  non2xx: number;
  /** Latency percentiles in microseconds, from each request's scheduled send time. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The raw bytes of one request. */
export function requestBytes(url: string, spec: RequestSpec): Buffer {
  const target = new URL(url);
  const lines = [`${spec.method} ${target.pathname}${target.search} HTTP/1.1`, `host: ${target.host}`];
  for (const [name, value] of Object.entries(spec.headers)) lines.push(`${name}: ${value}`);
  if (spec.body) lines.push(`content-length: ${spec.body.length}`);
  const head = Buffer.from(lines.join("\r\n") + "\r\n\r\n");
  return spec.body ? Buffer.concat([head, spec.body]) : head;
}

/** Parses complete HTTP/1.1 responses off a connection's bytes. */
class ResponseReader {
  private buffered: Buffer = Buffer.alloc(0);
  private need = -1;
  private status = 0;

  /** Feeds bytes; returns the statuses of the responses they completed. */
  feed(chunk: Buffer): number[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const done: number[] = [];
    for (;;) {
      if (this.need < 0) {
        const end = this.buffered.indexOf("\r\n\r\n");
        if (end < 0) return done;
        const head = this.buffered.subarray(0, end).toString("latin1");
        this.status = Number(head.slice(9, 12));
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (!length) throw new Error(`a response without content-length:\n${head}`);
        this.need = Number(length[1]);
        this.buffered = this.buffered.subarray(end + 4);
      }
      if (this.buffered.length < this.need) return done;
      this.buffered = this.buffered.subarray(this.need);
      this.need = -1;
      done.push(this.status);
    }
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * Sends `rate` requests a second for `seconds` over `connections` keep-alive connections (one
 * request in flight per connection; a request whose time came waits for a free connection, its
 * wait counted in its latency).
 */
export async function fixedRate(
  url: string,
  spec: RequestSpec,
  options: { rate: number; seconds: number; connections: number },
): Promise<FixedRateResult> {
  assertLoopback(url);
  const target = new URL(url);
  const bytes = requestBytes(url, spec);
  const total = Math.round(options.rate * options.seconds);
  const latencies = new Float64Array(total);
  const result: FixedRateResult = {
    rate: options.rate,
    sent: 0,
    completed: 0,
    dropped: 0,
    errors: 0,
    non2xx: 0,
    p50: NaN,
    p90: NaN,
    p99: NaN,
    max: NaN,
  };
  interface Conn {
    socket: net.Socket;
    reader: ResponseReader;
    scheduled: number;
    busy: boolean;
  }
  const free: Conn[] = [];
  const backlog: number[] = [];
  let backlogHead = 0;
  const conns: Conn[] = [];
  const dispatch = () => {
    while (free.length > 0 && backlogHead < backlog.length) {
      const conn = free.pop()!;
      conn.scheduled = backlog[backlogHead++]!;
      conn.busy = true;
      result.sent++;
      conn.socket.write(bytes);
    }
    if (backlogHead > 4096) {
      backlog.splice(0, backlogHead);
      backlogHead = 0;
    }
  };
  await Promise.all(
    Array.from({ length: options.connections }, () => {
      return new Promise<void>((resolve, reject) => {
        const socket = net.connect({ host: target.hostname, port: Number(target.port) }, () => resolve());
        socket.setNoDelay(true);
        const conn: Conn = { socket, reader: new ResponseReader(), scheduled: 0, busy: false };
        socket.on("data", (chunk: Buffer) => {
          for (const status of conn.reader.feed(chunk)) {
            const now = performance.now();
            if (result.completed < total) latencies[result.completed] = (now - conn.scheduled) * 1000;
            result.completed++;
            if (status < 200 || status >= 300) result.non2xx++;
            conn.busy = false;
            free.push(conn);
          }
          dispatch();
        });
        socket.on("error", (error) => {
          result.errors++;
          reject(error);
        });
        conns.push(conn);
        free.push(conn);
      });
    }),
  );
  const start = performance.now();
  const interval = 1000 / options.rate;
  let scheduled = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (scheduled < total && start + scheduled * interval <= now) {
        if (backlog.length - backlogHead > options.rate) result.dropped++;
        else backlog.push(start + scheduled * interval);
        scheduled++;
      }
      dispatch();
      if (scheduled >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  // Let what is in flight finish (bounded).
  const deadline = performance.now() + 3000;
  while (conns.some((conn) => conn.busy) || backlogHead < backlog.length) {
    if (performance.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  for (const conn of conns) conn.socket.destroy();
  const sorted = latencies.slice(0, Math.min(result.completed, total)).sort();
  result.p50 = percentile(sorted, 50);
  result.p90 = percentile(sorted, 90);
  result.p99 = percentile(sorted, 99);
  result.max = sorted.length > 0 ? sorted[sorted.length - 1]! : NaN;
  return result;
}
