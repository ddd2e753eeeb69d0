// The filter logger (../log) against the fake host: the prefix naming filter and injection, and
// the host's level read at refreshLevel().
import { LogLevelValues } from "@solo-io/proxy-runtime/assembly";
import { Logger } from "../log";
import { logged, resetHost, setLogLevel } from "./fake-host";

describe("Logger", () => {
  beforeEach(() => {
    resetHost();
  });

  test("each line names the filter and the injection", () => {
    const log = new Logger("my-filter", "inj-7");
    log.info("configured");
    log.error("invalid configuration: /x: bad");
    expect(logged()).toBe(
      "2: my-filter[inj-7]: configured\n4: my-filter[inj-7]: invalid configuration: /x: bad\n",
    );
  });

  test("below the host's level nothing crosses to the host; errors always do", () => {
    setLogLevel(LogLevelValues.warn);
    const log = new Logger("f", "i");
    log.refreshLevel();
    expect(log.enabled(LogLevelValues.info)).toBe(false);
    expect(log.enabled(LogLevelValues.warn)).toBe(true);
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    expect(logged()).toBe("3: f[i]: w\n4: f[i]: e\n");
  });

  test("the level is the one read at the last refreshLevel()", () => {
    const log = new Logger("f", "i");
    log.debug("before any refresh: info and above");
    setLogLevel(LogLevelValues.debug);
    log.debug("still info");
    log.refreshLevel();
    log.debug("now debug");
    expect(logged()).toBe("1: f[i]: now debug\n");
  });
});
