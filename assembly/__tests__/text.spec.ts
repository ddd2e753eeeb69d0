import { decimal, listText, unsignedDecimal } from "../text";

describe("decimal text", () => {
  test("whole numbers as Number#toString writes them", () => {
    const values: i64[] = [
      0,
      1,
      -1,
      9,
      10,
      -10,
      99,
      100,
      1234567890,
      -987654321012,
      i64.MAX_VALUE,
      i64.MIN_VALUE,
    ];
    for (let i = 0; i < values.length; i++) expect(decimal(values[i])).toBe(values[i].toString());
    expect(unsignedDecimal(u64.MAX_VALUE)).toBe("18446744073709551615");
    expect(unsignedDecimal(0)).toBe("0");
    expect(unsignedDecimal(1000)).toBe("1000");
  });

  test("lists", () => {
    expect(listText([])).toBe("");
    expect(listText(["a"])).toBe("a");
    expect(listText(["a", "b", "c"])).toBe("a, b, c");
  });
});
