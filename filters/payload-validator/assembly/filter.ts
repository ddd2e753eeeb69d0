// payload-validator's filter: root context (configuration, metrics) and stream context (feeds the
// request's headers and body to RequestCheck, then passes, rejects, or in monitor mode only counts).
import {
  GraftRootContext,
  GraftStream,
  ConfigReader,
  FilterMetrics,
  JsonValue,
  BufferTypeValues,
  FilterDataStatusValues,
  FilterHeadersStatusValues,
  FilterTrailersStatusValues,
  getBufferBytes,
  increment,
  record,
  sendReply,
  TAG_REASON,
  RequestHeaderSnapshot,
} from "../../../assembly";
import { batchCounters, flushCounters } from "../../../assembly/metrics";
import {
  FILTER,
  METRIC_BODY_BYTES,
  METRIC_REJECTED_TOTAL,
  METRIC_VALIDATED_TOTAL,
  METRIC_WOULD_REJECT_TOTAL,
} from "./contract.generated";
import { RequestCheck } from "./check";
import { PROBLEM_CONTENT_TYPE, REASONS, REASON_INVALID_JSON, Verdict } from "./problem";
import { PayloadConfig, parseConfig } from "./settings";

/** Metric ids of one configuration; a stream keeps those it started with, as it keeps the configuration. */
export class ValidatorMetrics {
  validated: u32 = 0;
  bodyBytes: u32 = 0;
  /** By reason: rejected_total in enforce mode, would_reject_total in monitor mode. */
  byReason: Map<string, u32> = new Map();
}

export class PayloadValidatorRoot extends GraftRootContext {
  config: PayloadConfig = new PayloadConfig();
  ids: ValidatorMetrics = new ValidatorMetrics();

  constructor(context_id: u32) {
    super(context_id, FILTER);
  }

  configure(reader: ConfigReader, root: JsonValue, metrics: FilterMetrics): void {
    const config = parseConfig(reader, root);
    if (!reader.ok()) return;
    const ids = new ValidatorMetrics();
    const base = config.monitor ? METRIC_WOULD_REJECT_TOTAL : METRIC_REJECTED_TOTAL;
    for (let i = 0; i < REASONS.length; i++)
      ids.byReason.set(REASONS[i], metrics.counter(base, TAG_REASON, REASONS[i]));
    ids.validated = metrics.counter(METRIC_VALIDATED_TOTAL);
    ids.bodyBytes = metrics.histogram(METRIC_BODY_BYTES);
    this.ids = ids;
    this.config = config;
    if (!batchCounters()) this.log.warn("no tick: every counter increment is a host call");
  }

  onTick(): void {
    flushCounters();
  }

  createContext(context_id: u32): PayloadValidatorStream {
    return new PayloadValidatorStream(context_id, this);
  }
}

// The checks read several request headers and change none: one host call reads them all. One
// instance serves the worker's streams, reset as each request starts.
const requestHeaders = new RequestHeaderSnapshot();

export class PayloadValidatorStream extends GraftStream<PayloadValidatorRoot> {
  private check: RequestCheck;
  /** Enforce mode with body checks: the body stays in Envoy's buffer until the verdict. */
  private holding: bool = false;
  /** Bytes of Envoy's held buffer already fed to the checks. */
  private fed: u32 = 0;
  private done: bool = false;
  private rejected: bool = false;
  private ids: ValidatorMetrics;

  constructor(context_id: u32, root: PayloadValidatorRoot) {
    super(context_id, root);
    this.check = new RequestCheck(root.config);
    this.ids = root.ids;
  }

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const check = this.check;
    requestHeaders.reset();
    const verdict = check.headers(requestHeaders, end_of_stream);
    if (verdict !== null) {
      this.refuse(verdict);
      return this.rejected ? FilterHeadersStatusValues.StopIteration : FilterHeadersStatusValues.Continue;
    }
    if (check.finished) {
      this.pass();
    } else {
      const config = check.config;
      this.holding = !config.monitor && config.inspectsBody();
    }
    // Continue even while the body is held: StopIteration would become a full stop (ENVOY.md gotcha 7).
    return FilterHeadersStatusValues.Continue;
  }

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.rejected) return FilterDataStatusValues.StopIterationNoBuffer;
    if (this.done) return FilterDataStatusValues.Continue;
    // A held body grows in Envoy's buffer and the size is its total: read only the new bytes.
    // Otherwise each call sees just its own chunk.
    const size = <u32>body_buffer_length;
    const start = this.holding ? this.fed : 0;
    if (size > start) {
      const length = size - start;
      let verdict: Verdict | null;
      if (this.check.needsBytes(<i32>length)) {
        const bytes = getBufferBytes(BufferTypeValues.HttpRequestBody, start, length);
        if (<u32>bytes.byteLength != length) {
          // Never expected; unread bytes must not pass unchecked.
          this.root.log.error("could not read body bytes " + start.toString() + "+" + length.toString());
          verdict = new Verdict(REASON_INVALID_JSON, "the body could not be read");
        } else {
          verdict = this.check.body(changetype<usize>(bytes), bytes.byteLength);
        }
      } else {
        // Only the count matters (or the chunk takes the body past max_body_bytes): not copied.
        verdict = this.check.body(0, <i32>length);
      }
      if (this.holding) this.fed = size;
      if (verdict !== null) {
        this.refuse(verdict);
        return this.rejected ? FilterDataStatusValues.StopIterationNoBuffer : FilterDataStatusValues.Continue;
      }
    }
    // A body whose content-length has fully arrived is judged now: Envoy need not buffer it only
    // to deliver the end of stream in a callback of its own.
    if (end_of_stream || this.check.bodyComplete()) {
      return this.end() ? FilterDataStatusValues.Continue : FilterDataStatusValues.StopIterationNoBuffer;
    }
    return this.holding ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.Continue;
  }

  // With HTTP/2 (or chunked) trailers, end of stream never reaches onRequestBody: finish here.
  onRequestTrailers(trailers: u32): FilterTrailersStatusValues {
    if (this.rejected) return FilterTrailersStatusValues.StopIteration;
    if (this.done) return FilterTrailersStatusValues.Continue;
    return this.end() ? FilterTrailersStatusValues.Continue : FilterTrailersStatusValues.StopIteration;
  }

  /** End of the request: true when it may go on. */
  private end(): bool {
    const verdict = this.check.end();
    if (verdict === null) {
      this.pass();
      return true;
    }
    this.refuse(verdict);
    return !this.rejected;
  }

  private recordBody(): void {
    if (this.check.bodyBytes > 0) record(this.ids.bodyBytes, <u64>this.check.bodyBytes);
  }

  private pass(): void {
    this.done = true;
    this.check.release();
    increment(this.ids.validated);
    this.recordBody();
  }

  private refuse(verdict: Verdict): void {
    this.done = true;
    this.check.release();
    this.recordBody();
    const root = this.root;
    increment(this.ids.byReason.get(verdict.reason));
    if (this.check.config.monitor) {
      root.log.info("would reject: " + verdict.toString());
      return;
    }
    this.rejected = true;
    root.log.debug("rejected: " + verdict.toString());
    sendReply(
      verdict.status(),
      "graft_payload_" + verdict.reason,
      verdict.problemJson(),
      PROBLEM_CONTENT_TYPE,
    );
  }
}
