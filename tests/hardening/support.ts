// Helpers of the hardening tests: bounded loopback requests and process memory.
import { readFileSync } from "node:fs";
import http from "node:http";
import { assertLoopback } from "../../tools/load/loopback.ts";

/** Resident set size of a process, from /proc. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

export interface SendResult {
  statuses: Map<number, number>;
  errors: number;
}

/** `count` GETs to `url` over `connections` keep-alive connections; bounded by count. */
export async function sendRequests(
  url: string,
  count: number,
  connections: number,
  headers: Record<string, string> = {},
  path = "/",
): Promise<SendResult> {
  assertLoopback(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const statuses = new Map<number, number>();
  let errors = 0;
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const request = http.request(`${url}${path}`, { agent, headers }, (response) => {
        response.resume();
        response.on("end", () => {
          statuses.set(response.statusCode ?? 0, (statuses.get(response.statusCode ?? 0) ?? 0) + 1);
          resolve();
        });
      });
      request.on("error", () => {
        errors++;
        resolve();
      });
      request.end();
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < count) {
        next++;
        await one();
      }
    }),
  );
  agent.destroy();
  return { statuses, errors };
}
