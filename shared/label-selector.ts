/**
 * Label selectors parsed as Kubernetes' labels.Parse does (apimachinery pkg/labels/selector.go):
 * the same lexer (greedy operators, `in`/`notin` keywords, whitespace), the same grammar and the
 * same error messages, so `a==b==c` is refused with "found '==', expected: ',' or 'end of string'"
 * as kube-apiserver refuses it. Written from the grammar; no code copied.
 */

export type LabelOp = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';

/** One requirement: `values` holds one value for =, !=, gt, lt; the set for in/notin; none else. */
export interface ParsedRequirement {
  readonly key: string;
  readonly op: LabelOp;
  readonly values: readonly string[];
}

type Tok = 'eos' | ')' | ',' | '!' | '==' | '=' | '>' | 'id' | 'in' | '<' | '!=' | 'notin' | '(' | 'error';

const TOKENS: Record<string, Tok> = { ')': ')', ',': ',', '!': '!', '==': '==', '=': '=', '>': '>', in: 'in', '<': '<', '!=': '!=', notin: 'notin', '(': '(' };
const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);
const WHITESPACE = new Set([' ', '\t', '\r', '\n']);
const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt';

function lex(s: string): { tok: Tok; lit: string }[] {
  const out: { tok: Tok; lit: string }[] = [];
  let pos = 0;
  for (;;) {
    while (pos < s.length && WHITESPACE.has(s[pos]!)) pos++;
    if (pos >= s.length) {
      out.push({ tok: 'eos', lit: '' });
      return out;
    }
    if (SPECIAL.has(s[pos]!)) {
      // Greedy: the longest run of special characters that is still a token.
      let buffer = '';
      let last: { tok: Tok; lit: string } | undefined;
      while (pos < s.length && SPECIAL.has(s[pos]!)) {
        buffer += s[pos];
        const t = TOKENS[buffer];
        if (t) last = { tok: t, lit: buffer };
        else if (last) break;
        pos++;
      }
      out.push(last ?? { tok: 'error', lit: `error expected: keyword found '${buffer}'` });
      continue;
    }
    const start = pos;
    while (pos < s.length && !SPECIAL.has(s[pos]!) && !WHITESPACE.has(s[pos]!)) pos++;
    const word = s.slice(start, pos);
    out.push({ tok: TOKENS[word] ?? 'id', lit: word });
  }
}

const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const NAME_PART_MSG =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

/** Kubernetes' validation.IsQualifiedName, its messages joined as labels.Parse joins them. */
export function qualifiedNameProblems(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) name = parts[0]!;
  else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else {
      if (prefix.length > 253) errs.push('prefix part must be no more than 253 characters');
      if (!DNS1123_SUBDOMAIN.test(prefix))
        errs.push(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        );
    }
  } else
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  if (name.length === 0) errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push('name part must be no more than 63 characters');
  if (name.length > 0 && !QUALIFIED_NAME_PART.test(name)) errs.push(NAME_PART_MSG);
  return errs;
}

/** Kubernetes' validation.IsValidLabelValue. */
export function labelValueProblems(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push('must be no more than 63 characters');
  if (!LABEL_VALUE.test(value))
    errs.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    );
  return errs;
}

class SelectorError extends Error {}

/** Parses a label selector; throws an Error whose message is Kubernetes' for a malformed one. */
export function parseLabels(selector: string): ParsedRequirement[] {
  const items = lex(selector);
  let position = 0;
  // In a values context `in` and `notin` are identifiers (`x in (in)`).
  const asValue = (t: { tok: Tok; lit: string }) => (t.tok === 'in' || t.tok === 'notin' ? { tok: 'id' as Tok, lit: t.lit } : t);
  const lookahead = (values: boolean) => (values ? asValue(items[position]!) : items[position]!);
  const consume = (values: boolean) => {
    const t = lookahead(values);
    position++;
    return t;
  };
  const fail = (msg: string): never => {
    throw new SelectorError(msg);
  };

  const parseValues = (): string[] => {
    const open = consume(true);
    if (open.tok !== '(') fail(`found '${open.lit}' expected: '('`);
    const first = lookahead(true);
    if (first.tok === ')') {
      consume(true);
      return [''];
    }
    if (first.tok !== 'id' && first.tok !== ',') fail(`found '${first.lit}', expected: ',', ')' or identifier`);
    const set = new Set<string>();
    for (;;) {
      const t = consume(true);
      if (t.tok === 'id') {
        set.add(t.lit);
        const next = lookahead(true);
        if (next.tok === ',') continue;
        if (next.tok === ')') break;
        fail(`found '${next.lit}', expected: ',' or ')'`);
      } else if (t.tok === ',') {
        if (set.size === 0) set.add('');
        const next = lookahead(true);
        if (next.tok === ')') {
          set.add('');
          break;
        }
        if (next.tok === ',') {
          consume(true);
          set.add('');
        }
      } else fail(`found '${t.lit}', expected: ',', or identifier`);
    }
    if (consume(true).tok !== ')') fail(`found '${first.lit}', expected: ')'`);
    return [...set].sort();
  };

  const parseRequirement = (): ParsedRequirement => {
    let t = consume(true);
    let negated = false;
    if (t.tok === '!') {
      negated = true;
      t = consume(true);
    }
    if (t.tok !== 'id') fail(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const keyErrs = qualifiedNameProblems(key);
    if (keyErrs.length) fail(`<nil>: Invalid value: ${JSON.stringify(key)}: ${keyErrs.join('; ')}`);
    const after = lookahead(true).tok;
    // `!a` ends the requirement whatever follows (`!a=b` then fails on the `=`).
    if (negated || after === 'eos' || after === ',') return { key, op: negated ? '!' : 'exists', values: [] };
    const opTok = consume(false);
    const op: LabelOp | undefined = (
      { in: 'in', notin: 'notin', '=': '=', '==': '=', '!=': '!=', '>': 'gt', '<': 'lt' } as Partial<Record<Tok, LabelOp>>
    )[opTok.tok];
    if (!op) return fail(`found '${opTok.lit}', expected: ${BINARY_OPERATORS}`);
    let values: string[];
    if (op === 'in' || op === 'notin') values = parseValues();
    else {
      const v = lookahead(true);
      if (v.tok === 'eos' || v.tok === ',') values = [''];
      else {
        const c = consume(true);
        if (c.tok !== 'id') fail(`found '${c.lit}', expected: identifier`);
        values = [c.lit];
      }
    }
    const errs: string[] = [];
    if (op === 'gt' || op === 'lt')
      values.forEach((v, i) => {
        if (!/^[+-]?\d+$/.test(v)) errs.push(`values[${i}]: Invalid value: ${JSON.stringify(v)}: for 'Gt', 'Lt' operators, the value must be an integer`);
      });
    values.forEach((v, i) => {
      const problems = labelValueProblems(v);
      if (problems.length) errs.push(`values[${i}]: Invalid value: ${JSON.stringify(v)}: ${problems.join('; ')}`);
    });
    if (errs.length === 1) fail(errs[0]!);
    if (errs.length > 1) fail(`[${errs.join(', ')}]`);
    return { key, op, values };
  };

  const out: ParsedRequirement[] = [];
  for (;;) {
    const t = lookahead(true);
    if (t.tok === 'eos') break;
    if (t.tok !== 'id' && t.tok !== '!') fail(`found '${t.lit}', expected: !, identifier, or 'end of string'`);
    try {
      out.push(parseRequirement());
    } catch (e) {
      if (e instanceof SelectorError) throw new SelectorError(`unable to parse requirement: ${e.message}`);
      throw e;
    }
    const sep = consume(true);
    if (sep.tok === 'eos') break;
    if (sep.tok !== ',') fail(`found '${sep.lit}', expected: ',' or 'end of string'`);
    const next = lookahead(true);
    if (next.tok !== 'id' && next.tok !== '!') fail(`found '${next.lit}', expected: identifier after ','`);
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Field selectors: fields.ParseSelector (pkg/fields/selector.go).

export interface ParsedFieldTerm {
  readonly field: string;
  readonly op: '=' | '!=';
  readonly value: string;
}

/** Splits on commas not escaped by a backslash (fields' splitTerms). */
function splitTerms(s: string): string[] {
  if (s === '') return [];
  const terms: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    if (escaped) escaped = false;
    else if (s[i] === '\\') escaped = true;
    else if (s[i] === ',') {
      terms.push(s.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(s.slice(start));
  return terms;
}

/** fields.UnescapeValue: `\\`, `\,` and `\=` are escapes; a bare `,` or `=` is refused. */
function unescapeValue(s: string): string {
  let out = '';
  let inSlash = false;
  for (const c of s) {
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') throw new SelectorError(`invalid field selector: invalid escape sequence: \\${c}`);
      out += c;
      inSlash = false;
    } else if (c === '\\') inSlash = true;
    else if (c === ',' || c === '=') throw new SelectorError(`invalid field selector: unescaped character in value: ${c}`);
    else out += c;
  }
  if (inSlash) throw new SelectorError('invalid field selector: invalid escape sequence: \\');
  return out;
}

/** Parses a field selector as fields.ParseSelector; throws an Error with Kubernetes' message. */
export function parseFields(selector: string): ParsedFieldTerm[] {
  const out: ParsedFieldTerm[] = [];
  for (const part of splitTerms(selector).sort()) {
    if (part === '') continue;
    let split: { lhs: string; op: '=' | '!='; rhs: string } | undefined;
    for (let i = 0; i < part.length && !split; i++) {
      for (const op of ['!=', '==', '='] as const)
        if (part.startsWith(op, i)) {
          split = { lhs: part.slice(0, i), op: op === '!=' ? '!=' : '=', rhs: part.slice(i + op.length) };
          break;
        }
    }
    if (!split) throw new SelectorError(`invalid selector: '${selector}'; can't understand '${part}'`);
    out.push({ field: split.lhs, op: split.op, value: unescapeValue(split.rhs) });
  }
  return out;
}
