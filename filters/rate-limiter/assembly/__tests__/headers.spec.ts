import {
  REASON_LIMITED,
  deniedBody,
  rateLimitItem,
  replyDetails,
  resetSeconds,
  retryAfterSeconds,
} from "../headers";

describe("rate-limiter headers", () => {
  test("Retry-After rounds up and is at least 1", () => {
    expect(retryAfterSeconds(0)).toBe(1);
    expect(retryAfterSeconds(10e6)).toBe(1);
    expect(retryAfterSeconds(1e9)).toBe(1);
    expect(retryAfterSeconds(1e9 + 1)).toBe(2);
  });
  test("the reset time rounds up and may be 0", () => {
    expect(resetSeconds(0)).toBe(0);
    expect(resetSeconds(1)).toBe(1);
    expect(resetSeconds(2.5e9)).toBe(3);
  });
  test("the RateLimit item", () => {
    expect(rateLimitItem("per-key", 0, 2)).toBe('"per-key";r=0;t=2');
  });
  test("the 429 body and details", () => {
    expect(deniedBody(REASON_LIMITED, "g", 1)).toBe('{"error":"rate_limited","rule":"g","retry_after":1}');
    expect(replyDetails(REASON_LIMITED)).toBe("graft_rate_limited");
  });
});
