// The request as filters read it in Envoy (../request: EnvoyRequest, RequestHeaderSnapshot)
// against the fake host's request headers and properties.
import { HeaderMapTypeValues } from "@solo-io/proxy-runtime/assembly";
import { EnvoyRequest, RequestHeaderSnapshot } from "../request";
import { addHeader, dropMap, resetHost, setHeaderForTest, setProperty } from "./fake-host";

const REQUEST = HeaderMapTypeValues.RequestHeaders;

function arrange(): void {
  resetHost();
  addHeader(REQUEST, ":method", "POST");
  addHeader(REQUEST, ":path", "/api/items?x=1");
  addHeader(REQUEST, "x-a", "1");
  addHeader(REQUEST, "x-b", "b");
  addHeader(REQUEST, "x-a", "2");
  setProperty("source.address", "10.1.2.3:4567");
}

describe("EnvoyRequest", () => {
  beforeEach(arrange);

  test("method, path (with its query), headers and repeated headers", () => {
    const request = new EnvoyRequest();
    request.reset();
    expect(request.method()).toBe("POST");
    expect(request.path()).toBe("/api/items?x=1");
    expect(request.header("x-a")).toBe("1");
    expect(request.header("x-missing")).toBeNull();
    const values = request.headerValues("x-a");
    expect(values.length).toBe(2);
    expect(values[0]).toBe("1");
    expect(values[1]).toBe("2");
    expect(request.headerValues("").length).toBe(5, "every header's value");
  });

  test("the client address from the source.address property", () => {
    const request = new EnvoyRequest();
    request.reset();
    expect(String.UTF8.decode(request.sourceAddressBytes()!)).toBe("10.1.2.3:4567");
  });

  test("method and path are read once per request; reset() starts the next one", () => {
    const request = new EnvoyRequest();
    request.reset();
    expect(request.path()).toBe("/api/items?x=1");
    setHeaderForTest(REQUEST, ":path", "/next");
    expect(request.path()).toBe("/api/items?x=1", "cached for this request");
    request.reset();
    expect(request.path()).toBe("/next");
  });

  test("without request headers: empty method and path, no header, no values", () => {
    dropMap(REQUEST);
    const request = new EnvoyRequest();
    request.reset();
    expect(request.method()).toBe("");
    expect(request.path()).toBe("");
    expect(request.header("x-a")).toBeNull();
    expect(request.headerValues("x-a").length).toBe(0);
  });
});

describe("RequestHeaderSnapshot", () => {
  beforeEach(arrange);

  test("reads every header from one snapshot: first values, all values", () => {
    const request = new RequestHeaderSnapshot();
    request.reset();
    expect(request.method()).toBe("POST");
    expect(request.path()).toBe("/api/items?x=1");
    expect(request.header("x-a")).toBe("1");
    expect(request.header("x-b")).toBe("b");
    expect(request.header("x-missing")).toBeNull();
    expect(request.headerValues("x-a").join(",")).toBe("1,2");
  });

  test("a header changed after the snapshot is not seen until reset()", () => {
    const request = new RequestHeaderSnapshot();
    request.reset();
    expect(request.header("x-b")).toBe("b");
    setHeaderForTest(REQUEST, "x-b", "changed");
    expect(request.header("x-b")).toBe("b");
    request.reset();
    expect(request.header("x-b")).toBe("changed");
  });

  test("without request headers: nothing, and no abort", () => {
    dropMap(REQUEST);
    const request = new RequestHeaderSnapshot();
    request.reset();
    expect(request.method()).toBe("");
    expect(request.header("x-a")).toBeNull();
  });
});
