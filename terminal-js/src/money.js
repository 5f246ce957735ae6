// Exact money for terminal-js: decimal major units ("12.99", what the backend speaks) to integer
// minor units (what the Stripe Terminal SDK speaks, e.g. config_override.tipping.eligible_amount)
// and back, with BigInt arithmetic only: no floating point ever touches an amount.

import { PosTerminalError, ErrorKinds } from './errors.js';

// Stripe's zero-decimal and three-decimal currencies; every other currency has two decimals.
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd',
  'vuv', 'xaf', 'xof', 'xpf']);
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

/** How many decimals `currency` has (Stripe's minor unit). */
export function currencyExponent(currency) {
  if (typeof currency !== 'string' || !/^[a-z]{3}$/i.test(currency)) {
    throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'currency must be a three-letter ISO code', { param: 'currency' });
  }
  const c = currency.toLowerCase();
  if (ZERO_DECIMAL.has(c)) return 0;
  if (THREE_DECIMAL.has(c)) return 3;
  return 2;
}

/**
 * `amount` (a decimal string such as "12.99", or a number whose decimal form is exact, such as
 * 12.99) in `currency`'s minor units, as a BigInt. More decimals than the currency has, negative
 * or malformed amounts are an invalid_request naming `param`.
 */
export function toMinorUnits(amount, currency, param = 'amount') {
  const exp = currencyExponent(currency);
  const text = typeof amount === 'number' && Number.isFinite(amount) ? String(amount)
    : typeof amount === 'string' ? amount.trim() : null;
  const m = text === null ? null : /^(\d+)(?:\.(\d*))?$/.exec(text);
  if (!m) {
    throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, `${param} must be a non-negative decimal amount`, { param });
  }
  const frac = (m[2] ?? '').replace(/0+$/, '');
  if (frac.length > exp) {
    throw new PosTerminalError(ErrorKinds.INVALID_REQUEST,
      `${param} has more than ${exp} decimal${exp === 1 ? '' : 's'} for ${currency.toLowerCase()}`, { param });
  }
  return BigInt(m[1]) * 10n ** BigInt(exp) + BigInt((frac + '0'.repeat(exp)).slice(0, exp) || '0');
}

/** Minor units (BigInt or safe integer) → the decimal string the backend takes ("12.99"). */
export function fromMinorUnits(minor, currency) {
  const exp = currencyExponent(currency);
  const n = BigInt(minor);
  const sign = n < 0n ? '-' : '';
  const digits = (n < 0n ? -n : n).toString().padStart(exp + 1, '0');
  return exp === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -exp)}.${digits.slice(-exp)}`;
}

/**
 * A cart's total, exactly: the lines (unit `amount` × `quantity`, default 1) plus `tax`, as a
 * decimal string (what POST /v1/terminal/readers/{id}/display checks `total` against).
 */
export function cartTotal({ currency, line_items = [], tax } = {}) {
  let sum = 0n;
  line_items.forEach((line, i) => {
    const quantity = line.quantity ?? 1;
    if (!Number.isSafeInteger(quantity) || quantity < 1) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, `line_items[${i}].quantity must be a whole number ≥ 1`, {
        param: `line_items[${i}].quantity`,
      });
    }
    sum += toMinorUnits(line.amount, currency, `line_items[${i}].amount`) * BigInt(quantity);
  });
  if (tax !== undefined && tax !== null) sum += toMinorUnits(tax, currency, 'tax');
  return fromMinorUnits(sum, currency);
}
