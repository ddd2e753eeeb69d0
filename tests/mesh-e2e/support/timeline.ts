// SPDX-License-Identifier: Apache-2.0
/** The figures one run measures (seconds since the run started, propagation delays), printed at the end. */
export class Timeline {
  private readonly start = performance.now();
  private readonly marks: [string, number][] = [];
  private readonly durations: [string, number][] = [];

  /** Records that `what` is done now, as seconds since the start. */
  mark(what: string): void {
    this.marks.push([what, (performance.now() - this.start) / 1000]);
  }

  /** Records a delay in milliseconds (e.g. patch to first rewritten response). */
  duration(what: string, ms: number): void {
    this.durations.push([what, ms]);
  }

  render(): string {
    const lines = this.marks.map(([what, s]) => `  ${s.toFixed(2).padStart(6)} s  ${what}`);
    lines.push(...this.durations.map(([what, ms]) => `  ${String(Math.round(ms)).padStart(6)} ms ${what}`));
    return lines.join("\n");
  }
}
