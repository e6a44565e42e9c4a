/**
 * The part of kubectl's JSONPath (`-o jsonpath=...`) that scripts use, evaluated as kubectl does:
 * text outside braces is printed as is; `{.a.b}` prints the value (a string raw, anything else as
 * JSON), several results of one expression space-separated, and nothing for a missing field
 * (kubectl allows missing keys). Supported inside braces: `.field` (with `\.` for a dot in a key),
 * `['key']`, `[n]` (negative from the end), `[a:b]`, `[*]`, `.*`, `..field`, filters
 * `[?(@.x=="v")]` (==, !=, <, <=, >, >=, or a bare path for "exists"), `$`/`@`, string literals
 * `{"\n"}`, and `{range <expr>}...{end}`.
 */
export function jsonpath(template: string, root: unknown): string {
  return render(parseTemplate(template), root, root);
}

type Segment =
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'recursive'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'slice'; readonly start?: number; readonly end?: number }
  | { readonly kind: 'all' }
  | { readonly kind: 'filter'; readonly left: Operand; readonly op?: string; readonly right?: Operand };

type Operand = { readonly path: Path } | { readonly literal: unknown };

interface Path {
  readonly from: '$' | '@';
  readonly segments: readonly Segment[];
}

type Node =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'path'; readonly path: Path }
  | { readonly kind: 'range'; readonly path: Path; readonly body: Node[] };

export class JsonPathError extends Error {
  constructor(template: string, reason: string) {
    super(`error: error parsing jsonpath ${template}, ${reason}`);
  }
}

function parseTemplate(template: string): Node[] {
  const top: Node[] = [];
  const stack: Node[][] = [top];
  let i = 0;
  let text = '';
  const flush = () => {
    if (text) stack[stack.length - 1].push({ kind: 'text', text });
    text = '';
  };
  while (i < template.length) {
    const c = template[i];
    if (c !== '{') {
      text += c;
      i++;
      continue;
    }
    flush();
    const close = actionEnd(template, i + 1);
    if (close < 0) throw new JsonPathError(template, 'unclosed action');
    const action = template.slice(i + 1, close).trim();
    i = close + 1;
    if (action === 'end') {
      if (stack.length === 1) throw new JsonPathError(template, 'not in range, nothing to end');
      stack.pop();
    } else if (action.startsWith('range ')) {
      const body: Node[] = [];
      stack[stack.length - 1].push({ kind: 'range', path: parsePath(action.slice(6).trim(), template), body });
      stack.push(body);
    } else if (action.startsWith('"')) {
      stack[stack.length - 1].push({ kind: 'text', text: parseString(action, template) });
    } else {
      stack[stack.length - 1].push({ kind: 'path', path: parsePath(action, template) });
    }
  }
  flush();
  if (stack.length > 1) throw new JsonPathError(template, 'unclosed range');
  return top;
}

/** Index of the `}` that closes an action starting at `from`, skipping quoted strings. */
function actionEnd(template: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < template.length; i++) {
    const c = template[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '}') {
      return i;
    }
  }
  return -1;
}

function parseString(literal: string, template: string): string {
  try {
    return JSON.parse(literal);
  } catch {
    throw new JsonPathError(template, `invalid string literal ${literal}`);
  }
}

function parsePath(expression: string, template: string): Path {
  let i = 0;
  let from: '$' | '@' = '@';
  if (expression[0] === '$' || expression[0] === '@') {
    from = expression[0] as '$' | '@';
    i = 1;
  } else if (expression[0] !== '.' && expression[0] !== '[') {
    throw new JsonPathError(template, `unrecognized identifier ${expression}`);
  }
  const segments: Segment[] = [];
  while (i < expression.length) {
    if (expression.startsWith('..', i)) {
      const [name, next] = readField(expression, i + 2);
      segments.push({ kind: 'recursive', name });
      i = next;
    } else if (expression[i] === '.') {
      const [name, next] = readField(expression, i + 1);
      if (name === '*') segments.push({ kind: 'all' });
      else if (name !== '') segments.push({ kind: 'field', name });
      i = next;
    } else if (expression[i] === '[') {
      const close = bracketEnd(expression, i);
      if (close < 0) throw new JsonPathError(template, 'unterminated array');
      segments.push(parseBracket(expression.slice(i + 1, close).trim(), template));
      i = close + 1;
    } else {
      throw new JsonPathError(template, `unexpected ${JSON.stringify(expression.slice(i))} in ${expression}`);
    }
  }
  return { from, segments };
}

/** A field name up to the next `.` or `[`; `\.` is a dot inside the name. */
function readField(expression: string, from: number): [string, number] {
  let name = '';
  let i = from;
  for (; i < expression.length; i++) {
    const c = expression[i];
    if (c === '\\' && i + 1 < expression.length) {
      name += expression[++i];
    } else if (c === '.' || c === '[' || c === ' ' || c === ',') {
      break;
    } else {
      name += c;
    }
  }
  return [name, i];
}

function bracketEnd(expression: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < expression.length; i++) {
    const c = expression[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '[') {
      depth++;
    } else if (c === ']' && --depth === 0) {
      return i;
    }
  }
  return -1;
}

function parseBracket(inside: string, template: string): Segment {
  if (inside === '*') return { kind: 'all' };
  if (/^'.*'$|^".*"$/.test(inside)) return { kind: 'field', name: inside.slice(1, -1) };
  if (/^-?\d+$/.test(inside)) return { kind: 'index', index: Number(inside) };
  const slice = /^(-?\d*):(-?\d*)(:\d*)?$/.exec(inside);
  if (slice) {
    return { kind: 'slice', start: slice[1] === '' ? undefined : Number(slice[1]), end: slice[2] === '' ? undefined : Number(slice[2]) };
  }
  const filter = /^\?\((.*)\)$/s.exec(inside);
  if (filter) {
    const condition = filter[1].trim();
    const comparison = /^(.+?)\s*(==|!=|<=|>=|<|>)\s*(.+)$/s.exec(condition);
    if (!comparison) return { kind: 'filter', left: parseOperand(condition, template) };
    return { kind: 'filter', left: parseOperand(comparison[1], template), op: comparison[2], right: parseOperand(comparison[3], template) };
  }
  throw new JsonPathError(template, `unrecognized array index [${inside}]`);
}

function parseOperand(text: string, template: string): Operand {
  const t = text.trim();
  if (t.startsWith('@') || t.startsWith('$')) return { path: parsePath(t, template) };
  if (t.startsWith("'") && t.endsWith("'")) return { literal: t.slice(1, -1) };
  if (t.startsWith('"')) return { literal: parseString(t, template) };
  if (t === 'true' || t === 'false') return { literal: t === 'true' };
  if (t !== '' && !isNaN(Number(t))) return { literal: Number(t) };
  throw new JsonPathError(template, `unrecognized filter operand ${t}`);
}

function render(nodes: readonly Node[], root: unknown, current: unknown): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') {
      out += node.text;
    } else if (node.kind === 'path') {
      out += evaluate(node.path, root, current).map(print).join(' ');
    } else {
      for (const item of evaluate(node.path, root, current)) out += render(node.body, root, item);
    }
  }
  return out;
}

function evaluate(path: Path, root: unknown, current: unknown): unknown[] {
  let values = [path.from === '$' ? root : current];
  for (const segment of path.segments) values = values.flatMap(v => step(segment, v, root));
  return values;
}

function step(segment: Segment, value: unknown, root: unknown): unknown[] {
  switch (segment.kind) {
    case 'field':
      return isObject(value) && segment.name in value ? [value[segment.name]] : [];
    case 'recursive':
      return descendants(value).filter(isObject).filter(v => segment.name in v).map(v => (v as Record<string, unknown>)[segment.name]);
    case 'all':
      if (Array.isArray(value)) return value;
      return isObject(value) ? Object.values(value) : [];
    case 'index': {
      if (!Array.isArray(value)) return [];
      const i = segment.index < 0 ? value.length + segment.index : segment.index;
      return i >= 0 && i < value.length ? [value[i]] : [];
    }
    case 'slice':
      return Array.isArray(value) ? value.slice(segment.start, segment.end) : [];
    case 'filter': {
      const items = Array.isArray(value) ? value : isObject(value) ? Object.values(value) : [];
      return items.filter(item => matches(segment, item, root));
    }
  }
}

function matches(filter: Extract<Segment, { kind: 'filter' }>, item: unknown, root: unknown): boolean {
  const left = operandValues(filter.left, item, root);
  if (!filter.op || !filter.right) return left.length > 0 && left.some(v => v !== false && v !== null);
  const right = operandValues(filter.right, item, root);
  return left.some(l => right.some(r => compare(l, filter.op!, r)));
}

function operandValues(operand: Operand, item: unknown, root: unknown): unknown[] {
  return 'path' in operand ? evaluate(operand.path, root, item) : [operand.literal];
}

function compare(left: unknown, op: string, right: unknown): boolean {
  switch (op) {
    case '==': return left === right;
    case '!=': return left !== right;
    case '<': return typeof left === typeof right && (left as number) < (right as number);
    case '<=': return typeof left === typeof right && (left as number) <= (right as number);
    case '>': return typeof left === typeof right && (left as number) > (right as number);
    default: return typeof left === typeof right && (left as number) >= (right as number);
  }
}

function descendants(value: unknown): unknown[] {
  const children = Array.isArray(value) ? value : isObject(value) ? Object.values(value) : [];
  return [value, ...children.flatMap(descendants)];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** As kubectl prints a result: strings raw, maps and lists as JSON, everything else as text. */
function print(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}
