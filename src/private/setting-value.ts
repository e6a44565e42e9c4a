/**
 * Whether PostgreSQL accepts a value for a setting, read as its server reads postgresql.conf (guc.c: parse_bool,
 * parse_int, parse_real, convert_to_base_unit and the enum lookup), so that a value it would refuse at start is refused
 * at synth instead. String settings are accepted as they are: their own checks (time zones, paths) are the server's.
 */

/** How a setting is typed in pg_settings: integer and real with their base unit ('' for none) and range. */
export type SettingType =
  | { readonly type: 'bool' | 'string' }
  | { readonly type: 'integer' | 'real'; readonly unit: string; readonly min: number; readonly max: number }
  | { readonly type: 'enum'; readonly values: readonly string[]; readonly hidden: readonly string[] };

const INT_MAX = 2147483647;
const INT_MIN = -2147483648;
/** The smallest normal double: glibc's strtod reports a smaller non-zero result as ERANGE, which PostgreSQL refuses. */
const DBL_MIN = 2.2250738585072014e-308;

/** Bytes in each memory unit, milliseconds in each time unit, largest first (guc.c's conversion tables). */
const MEMORY_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['kB', 1024], ['B', 1],
];
const TIME_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000], ['ms', 1], ['us', 0.001],
];
/** pg_settings' unit column: the size of one base unit, in bytes or milliseconds. */
const BASE_UNITS: { readonly [unit: string]: { readonly table: typeof MEMORY_UNITS; readonly size: number } } = {
  'B': { table: MEMORY_UNITS, size: 1 },
  'kB': { table: MEMORY_UNITS, size: 1024 },
  '8kB': { table: MEMORY_UNITS, size: 8192 },
  'MB': { table: MEMORY_UNITS, size: 1024 ** 2 },
  'ms': { table: TIME_UNITS, size: 1 },
  's': { table: TIME_UNITS, size: 1000 },
  'min': { table: TIME_UNITS, size: 60_000 },
};

/** C's isspace in the C locale. */
const SPACE = /^[ \t\n\v\f\r]*/;

/** Returns why PostgreSQL would refuse `value` for a setting of this type, or undefined when it accepts it. */
export function invalidValueReason(setting: SettingType, value: string): string | undefined {
  switch (setting.type) {
    case 'bool':
      return parseBool(value) ? undefined : 'expected a Boolean: on, off, true, false, yes, no, 1 or 0';
    case 'enum':
      return [...setting.values, ...setting.hidden].some(v => v.toLowerCase() === value.toLowerCase())
        ? undefined : `expected one of ${setting.values.join(', ')}`;
    case 'integer':
    case 'real':
      return numberReason(setting, value);
    default:
      return undefined;
  }
}

function numberReason(setting: { readonly type: 'integer' | 'real'; readonly unit: string; readonly min: number; readonly max: number }, value: string): string | undefined {
  const expected = expectation(setting);
  const parsed = setting.type === 'integer' ? parseInteger(value, setting.unit) : parseReal(value, setting.unit);
  if (parsed === undefined) return `expected ${expected}`;
  if (parsed < setting.min || parsed > setting.max) return `out of range: expected ${expected}`;
  return undefined;
}

/** What a number setting takes, in words: "an integer from 16 to 1073741823 (8kB blocks), or a size with a unit (...)". */
function expectation(setting: { readonly type: 'integer' | 'real'; readonly unit: string; readonly min: number; readonly max: number }): string {
  const kind = setting.type === 'integer' ? 'an integer' : 'a number';
  const range = `from ${setting.min} to ${setting.max}`;
  const base = BASE_UNITS[setting.unit];
  if (!base) return `${kind} ${range}`;
  const units = base.table.map(([unit]) => unit).join(', ');
  const what = base.table === MEMORY_UNITS ? 'size' : 'duration';
  return `${kind} ${range} in ${setting.unit === '8kB' ? '8kB blocks' : setting.unit}, or a ${what} with a unit (${units})`;
}

/** guc.c parse_bool: a prefix of true, false, yes or no; on, of, off; 1 or 0 (any case). */
export function parseBool(value: string): boolean {
  const v = value.toLowerCase();
  if (v === '1' || v === '0' || v === 'on' || v === 'of' || v === 'off') return true;
  return v.length > 0 && ['true', 'false', 'yes', 'no'].some(word => word.startsWith(v));
}

/** guc.c parse_int: the value in the setting's base unit (rounded), or undefined when PostgreSQL refuses it. */
export function parseInteger(value: string, baseUnit: string): number | undefined {
  // strtol with base 0 (decimal, 0x hex, 0 octal); at a '.' or 'e', or on overflow, strtod instead.
  // (A long that overflows strtol is beyond 32 bits either way: strtod's reading of it is refused just the same.)
  let number = strtol(value);
  if (number === undefined || /^[.eE]/.test(value.slice(number.end))) number = strtod(value);
  if (number === undefined || number.overflow || Number.isNaN(number.value)) return undefined;
  const converted = withUnit(number.value, value.slice(number.end), baseUnit);
  if (converted === undefined) return undefined;
  const rounded = rint(converted);
  return rounded > INT_MAX || rounded < INT_MIN ? undefined : rounded;
}

/** guc.c parse_real: the value in the setting's base unit, or undefined when PostgreSQL refuses it. */
export function parseReal(value: string, baseUnit: string): number | undefined {
  const number = strtod(value);
  if (number === undefined || number.overflow || Number.isNaN(number.value)) return undefined;
  return withUnit(number.value, value.slice(number.end), baseUnit);
}

/** guc.c convert_to_base_unit, after the number: spaces, then nothing, or a unit the setting's kind knows and spaces. */
function withUnit(value: number, rest: string, baseUnit: string): number | undefined {
  const tail = rest.replace(SPACE, '');
  if (tail === '') return value;
  const base = BASE_UNITS[baseUnit];
  if (!base) return undefined;
  // The unit, then only spaces (a unit longer than MAX_UNIT_LENGTH is in no table either).
  const unit = tail.split(/[ \t\n\v\f\r]/)[0];
  if (tail.slice(unit.length).replace(SPACE, '') !== '') return undefined;
  const table = base.table;
  const i = table.findIndex(([name]) => name === unit);
  if (i < 0) return undefined;
  const converted = value * table[i][1] / base.size;
  // A fraction ("30.1GB") is rounded to a whole number of the next smaller unit, where there is one.
  const smaller = table[i + 1];
  return smaller ? rint(converted / (smaller[1] / base.size)) * (smaller[1] / base.size) : converted;
}

interface Parsed {
  readonly value: number;
  /** Where the number ends in the string. */
  readonly end: number;
  readonly overflow: boolean;
}

const STRTOL = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/;

/** C's strtol(value, &end, 0): decimal, 0x hex, 0 octal; undefined when no digits were read. */
function strtol(value: string): Parsed | undefined {
  const match = STRTOL.exec(value);
  if (!match) return undefined;
  const digits = match[2];
  const magnitude = /^0[0-7]/.test(digits) ? BigInt(`0o${digits}`) : BigInt(digits);
  // In whole numbers, as C's long: "-0" is 0.
  return { value: Number(match[1] === '-' ? -magnitude : magnitude), end: match[0].length, overflow: false };
}

const STRTOD = new RegExp('^[ \\t\\n\\v\\f\\r]*[+-]?(?:'
  + '0[xX](?:[0-9a-fA-F]+\\.?[0-9a-fA-F]*|\\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?'
  + '|(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?'
  + '|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?'
  + '|[nN][aA][nN](?:\\([0-9A-Za-z_]*\\))?)');

/** C's strtod (glibc): undefined when no number was read; overflow for ERANGE (too large, or too small but not 0). */
function strtod(value: string): Parsed | undefined {
  const match = STRTOD.exec(value);
  if (!match) return undefined;
  const text = match[0].replace(SPACE, '');
  const negative = text.startsWith('-');
  const unsigned = text.replace(/^[+-]/, '').toLowerCase();
  if (unsigned.startsWith('0x')) {
    const { value: parsed, inexactlyTiny } = hexFloat(unsigned.slice(2));
    return { value: negative ? -parsed : parsed, end: match[0].length, overflow: inexactlyTiny };
  }
  const parsed = unsigned.startsWith('inf') ? Infinity : Number(unsigned);
  // glibc says ERANGE beyond the largest double, and for a result below the smallest normal one that is not exact: a
  // decimal mantissa with a non-zero digit there never is (short of hundreds of digits).
  const overflow = (parsed === Infinity && !unsigned.startsWith('inf')) || (/[1-9]/.test(unsigned.split('e')[0]) && Math.abs(parsed) < DBL_MIN);
  return { value: negative ? -parsed : parsed, end: match[0].length, overflow };
}

/**
 * A hexadecimal floating-point number after its "0x" (hex digits, an optional point, an optional p exponent): its value,
 * and whether it is below the smallest normal double and not a whole multiple of the smallest subnormal one (2^-1074),
 * which glibc's strtod reports as ERANGE; an exact subnormal value is read without one.
 */
function hexFloat(text: string): { value: number; inexactlyTiny: boolean } {
  const [digits, exponent] = text.split('p');
  const [whole, fraction = ''] = digits.split('.');
  let mantissa = BigInt(`0x${whole}${fraction}`);
  let power = Number(exponent ?? 0) - 4 * fraction.length;
  if (mantissa === 0n) return { value: 0, inexactlyTiny: false };
  while (mantissa % 2n === 0n) {
    mantissa /= 2n;
    power++;
  }
  const value = Number(mantissa) * 2 ** power;
  return { value, inexactlyTiny: value < DBL_MIN && power < -1074 };
}

/** C's rint: to the nearest integer, halves to even. */
function rint(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
