// Text for messages and headers that the standard library would make through its general number
// formatting (any radix, lookup tables): a filter that needs only decimal integers carries less.

/** `value` in decimal, as Number#toString writes a whole number. */
export function decimal(value: i64): string {
  return value < 0 ? digits(u64(-value), true) : digits(u64(value), false);
}

/** `value` in decimal. */
export function unsignedDecimal(value: u64): string {
  return digits(value, false);
}

function digits(magnitude: u64, negative: bool): string {
  let count = 1;
  for (let rest = magnitude / 10; rest > 0; rest /= 10) count++;
  const length = negative ? count + 1 : count;
  const text = changetype<string>(__new((<usize>length) << 1, idof<string>()));
  let at = changetype<usize>(text) + ((<usize>length) << 1);
  let rest = magnitude;
  do {
    at -= 2;
    store<u16>(at, u16(0x30 + (rest % 10)));
    rest /= 10;
  } while (rest > 0);
  if (negative) store<u16>(changetype<usize>(text), 0x2d);
  return text;
}

/** `a, b, c`: a list in a message (as Array#join, in less code). */
export function listText(items: string[]): string {
  let text = "";
  for (let i = 0; i < items.length; i++) text += (i > 0 ? ", " : "") + items[i];
  return text;
}
