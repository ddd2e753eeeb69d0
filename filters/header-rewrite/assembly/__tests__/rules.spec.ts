import { ConfigReader } from "../../../../assembly/config";
import {
  HeaderRewriteConfig,
  parseConfig,
  pathWithoutQuery,
  Op,
  RenderBudget,
  Template,
  RequestView,
} from "../rules";
import { MAX_RENDERED_BYTES } from "../contract.generated";
import { FakeRequest } from "../../../../assembly/__tests__/fake-request";

function load(json: string): ConfigReader {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode(json)));
  if (root !== null) parseConfig(reader, root, "header-rewrite", "inj-1");
  return reader;
}

function config(json: string): HeaderRewriteConfig {
  const reader = new ConfigReader();
  const root = reader.parse(Uint8Array.wrap(String.UTF8.encode(json)))!;
  const result = parseConfig(reader, root, "header-rewrite", "inj-1");
  expect(reader.ok()).toBe(true);
  return result;
}

function rendered(template: Template | null, view: RequestView): string {
  const value = template!.render(view, new RenderBudget());
  expect(value).not.toBeNull();
  return value!;
}

function expectErrorContaining(json: string, fragment: string): void {
  const error = errorOf(json);
  expect(error.includes(fragment)).toBe(true, error);
}

function errorOf(json: string): string {
  const reader = load(json);
  expect(reader.ok()).toBe(false);
  return reader.error!.toString();
}

describe("header-rewrite matching", () => {
  test("an empty match matches every request", () => {
    const c = config('{"rules":[{"name":"all","request":[{"op":"remove","name":"x"}]}]}');
    expect(c.rules[0].matches(new FakeRequest("DELETE", "/anything?q=1"))).toBe(true);
  });

  test("methods, path prefix and headers must all hold", () => {
    const c = config(
      '{"rules":[{"name":"r","match":{"methods":["GET"],"path":{"prefix":"/api/"},"headers":[{"name":"X-Env","equals":"prod"}]},"request":[{"op":"remove","name":"x"}]}]}',
    );
    const rule = c.rules[0];
    expect(rule.matches(new FakeRequest("GET", "/api/v1").with("x-env", "prod"))).toBe(true);
    expect(rule.matches(new FakeRequest("POST", "/api/v1").with("x-env", "prod"))).toBe(false);
    expect(rule.matches(new FakeRequest("GET", "/apiv1").with("x-env", "prod"))).toBe(false);
    expect(rule.matches(new FakeRequest("GET", "/api/v1").with("x-env", "dev"))).toBe(false);
    expect(rule.matches(new FakeRequest("GET", "/api/v1"))).toBe(false);
  });

  test("an exact path ignores the query string", () => {
    const rule = config(
      '{"rules":[{"name":"r","match":{"path":{"exact":"/health"}},"response":[{"op":"remove","name":"x"}]}]}',
    ).rules[0];
    expect(rule.matches(new FakeRequest("GET", "/health?full=1"))).toBe(true);
    expect(rule.matches(new FakeRequest("GET", "/health/x"))).toBe(false);
    expect(pathWithoutQuery("/a?b?c")).toBe("/a");
  });

  test("present and absent header tests", () => {
    const rule = config(
      '{"rules":[{"name":"r","match":{"headers":[{"name":"a","present":true},{"name":"b","present":false}]},"request":[{"op":"remove","name":"x"}]}]}',
    ).rules[0];
    expect(rule.matches(new FakeRequest("GET", "/").with("a", ""))).toBe(true);
    expect(rule.matches(new FakeRequest("GET", "/").with("a", "1").with("b", "1"))).toBe(false);
    expect(rule.matches(new FakeRequest("GET", "/"))).toBe(false);
  });
});

describe("header-rewrite values", () => {
  test("templates resolve the injection id, filter and rule at configure time", () => {
    const action = config(
      '{"rules":[{"name":"r1","request":[{"op":"set","name":"x","value":"${filter}/${injection_id}/${rule}"}]}]}',
    ).rules[0].request[0];
    expect(action.op).toBe(Op.Set);
    expect(rendered(action.value, new FakeRequest("GET", "/"))).toBe("header-rewrite/inj-1/r1");
  });

  test("templates quote request headers, empty when absent", () => {
    const action = config(
      '{"rules":[{"name":"r","response":[{"op":"append","name":"x","value":"u=${request.header.X-User};"}]}]}',
    ).rules[0].response[0];
    expect(action.op).toBe(Op.Append);
    expect(rendered(action.value, new FakeRequest("GET", "/").with("x-user", "bob"))).toBe("u=bob;");
    expect(rendered(action.value, new FakeRequest("GET", "/"))).toBe("u=;");
  });

  test("a dollar sign without a brace is literal", () => {
    const action = config('{"rules":[{"name":"r","request":[{"op":"set","name":"x","value":"$5 and $"}]}]}')
      .rules[0].request[0];
    expect(rendered(action.value, new FakeRequest("GET", "/"))).toBe("$5 and $");
  });

  test("a request renders at most max_rendered_bytes: an action that would pass it renders nothing", () => {
    const c = config(
      '{"rules":[{"name":"r","request":[{"op":"set","name":"a","value":"<${request.header.x-big}>"},{"op":"set","name":"b","value":"${request.header.x-big}${request.header.x-big}"},{"op":"set","name":"c","value":"ok"}]}]}',
    );
    const big = "x".repeat(MAX_RENDERED_BYTES / 2 - 1);
    const view = new FakeRequest("GET", "/").with("x-big", big);
    const budget = new RenderBudget();
    const actions = c.rules[0].request;
    expect(actions[0].value!.render(view, budget)).toBe("<" + big + ">");
    expect(actions[1].value!.render(view, budget)).toBeNull(); // 2 × big would pass the cap
    expect(budget.remaining).toBe(MAX_RENDERED_BYTES / 2 - 1);
    expect(actions[2].value!.render(view, budget)).toBe("ok");
    budget.reset();
    expect(budget.remaining).toBe(MAX_RENDERED_BYTES);
  });

  test("a quoted value counts its UTF-8 bytes", () => {
    const c = config(
      '{"rules":[{"name":"r","request":[{"op":"set","name":"a","value":"${request.header.x-u}"}]}]}',
    );
    const budget = new RenderBudget();
    budget.remaining = 5;
    expect(
      c.rules[0].request[0].value!.render(new FakeRequest("GET", "/").with("x-u", "ééé"), budget),
    ).toBeNull();
    budget.remaining = 6;
    expect(c.rules[0].request[0].value!.render(new FakeRequest("GET", "/").with("x-u", "ééé"), budget)).toBe(
      "ééé",
    );
  });

  test("header names are stored lowercase", () => {
    const action = config('{"rules":[{"name":"r","request":[{"op":"remove","name":"X-Internal"}]}]}').rules[0]
      .request[0];
    expect(action.name).toBe("x-internal");
  });
});

describe("header-rewrite configuration errors name the field", () => {
  test("rules are required", () => {
    expect(errorOf("{}")).toBe("/rules: is required");
  });
  test("unknown fields are refused", () => {
    expectErrorContaining('{"rules":[],"rulez":[]}', "/rulez: unknown field");
  });
  test("a rule without actions", () => {
    expect(errorOf('{"rules":[{"name":"r"}]}')).toBe(
      "/rules/0: a rule needs at least one request or response action",
    );
  });
  test("duplicate rule names", () => {
    expect(
      errorOf(
        '{"rules":[{"name":"r","request":[{"op":"remove","name":"x"}]},{"name":"r","request":[{"op":"remove","name":"x"}]}]}',
      ),
    ).toBe('/rules/1/name: duplicate rule name "r"');
  });
  test("a rule name unusable as a metric label", () => {
    expectErrorContaining(
      '{"rules":[{"name":"a;b","request":[{"op":"remove","name":"x"}]}]}',
      "/rules/0/name: must be 1-64 characters",
    );
  });
  test("an unknown method", () => {
    expectErrorContaining(
      '{"rules":[{"name":"r","match":{"methods":["FETCH"]},"request":[{"op":"remove","name":"x"}]}]}',
      '/rules/0/match/methods/0: unknown method "FETCH"',
    );
  });
  test("both exact and prefix", () => {
    expect(
      errorOf(
        '{"rules":[{"name":"r","match":{"path":{"exact":"/a","prefix":"/b"}},"request":[{"op":"remove","name":"x"}]}]}',
      ),
    ).toBe("/rules/0/match/path: give exactly one of exact, prefix");
  });
  test("a header test with neither present nor equals", () => {
    expectErrorContaining(
      '{"rules":[{"name":"r","match":{"headers":[{"name":"a"}]},"request":[{"op":"remove","name":"x"}]}]}',
      "/rules/0/match/headers/0: give exactly one of present",
    );
  });
  test("a set without a value", () => {
    expect(errorOf('{"rules":[{"name":"r","request":[{"op":"set","name":"x"}]}]}')).toBe(
      "/rules/0/request/0/value: is required",
    );
  });
  test("an invalid header name", () => {
    expectErrorContaining(
      '{"rules":[{"name":"r","request":[{"op":"remove","name":"bad name"}]}]}',
      '/rules/0/request/0/name: "bad name" is not a valid header name',
    );
  });
  test("an unclosed variable", () => {
    expectErrorContaining(
      '{"rules":[{"name":"r","request":[{"op":"set","name":"x","value":"${rule"}]}]}',
      "/rules/0/request/0/value: unclosed ${",
    );
  });
  test("rules whose literal text alone passes max_rendered_bytes", () => {
    const half = "v".repeat(MAX_RENDERED_BYTES / 2);
    const json =
      '{"rules":[{"name":"a","request":[{"op":"set","name":"x","value":"' +
      half +
      '"}]},{"name":"b","response":[{"op":"set","name":"y","value":"' +
      half +
      '!"}]}]}';
    expectErrorContaining(
      json,
      "/rules/1/response/0/value: the rules' values render 65537 bytes of literal text per request, over the limit of 65536 (max_rendered_bytes)",
    );
  });
  test("a wrong type", () => {
    expect(errorOf('{"rules":{}}')).toBe("/rules: expected an array, got an object");
  });
  test("a non-object root", () => {
    expect(errorOf("[]")).toBe("/: expected an object");
  });
});
