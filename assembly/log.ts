// Filter logging. Each line names the filter and the injection, so an operator reading Envoy's log
// can tell canary from baseline. Messages below the host's level are skipped before any string
// crosses into the host; the level is read when the filter is configured (Envoy's admin /logging
// changes take effect at the next configuration).
import { log as hostLog, LogLevelValues } from "@solo-io/proxy-runtime/assembly";
import { hostLogLevel } from "./host";

export class Logger {
  private prefix: string;
  private level: i32 = LogLevelValues.info;

  constructor(filter: string, injection: string) {
    this.prefix = filter + "[" + injection + "]: ";
  }

  refreshLevel(): void {
    this.level = hostLogLevel();
  }

  enabled(level: LogLevelValues): bool {
    return <i32>level >= this.level;
  }

  debug(message: string): void {
    if (this.enabled(LogLevelValues.debug)) hostLog(LogLevelValues.debug, this.prefix + message);
  }
  info(message: string): void {
    if (this.enabled(LogLevelValues.info)) hostLog(LogLevelValues.info, this.prefix + message);
  }
  warn(message: string): void {
    if (this.enabled(LogLevelValues.warn)) hostLog(LogLevelValues.warn, this.prefix + message);
  }
  error(message: string): void {
    hostLog(LogLevelValues.error, this.prefix + message);
  }
}
