// The two text formats of kpm run and kpm inject: dotenv files and {{ kpm://… }} templates.
import { usageError } from '../core/errors.js';

/**
 * Parses a dotenv file: `KEY=VALUE` lines, `export ` prefix allowed, `#` comments (whole lines, or
 * after whitespace in an unquoted value), 'single quotes' taken literally, "double quotes" with
 * \n \r \t \" \\ \$ escapes; quoted values may span lines. No variable expansion. Errors name the
 * file and line (exit 2).
 */
export function parseEnvFile(text: string, file = 'env file'): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const fail = (reason: string) => usageError(`${file}:${line}: ${reason}`);
  while (i < src.length) {
    const nl = src.indexOf('\n', i);
    const end = nl < 0 ? src.length : nl;
    const raw = src.slice(i, end);
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i = end + 1;
      line++;
      continue;
    }
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=[ \t]*/.exec(raw);
    if (!m) throw fail('expected KEY=VALUE');
    const key = m[1];
    let j = i + m[0].length;
    const q = src[j];
    let value = '';
    if (q === '"' || q === "'") {
      const startLine = line;
      j++;
      for (;;) {
        if (j >= src.length) {
          line = startLine;
          throw fail(`unterminated ${q === '"' ? 'double' : 'single'} quote`);
        }
        const c = src[j];
        if (c === q) break;
        if (c === '\n') line++;
        if (q === '"' && c === '\\' && j + 1 < src.length) {
          const e = src[j + 1];
          const esc: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$' };
          value += esc[e] ?? `\\${e}`;
          if (e === '\n') line++;
          j += 2;
          continue;
        }
        value += c;
        j++;
      }
      j++; // the closing quote
      const restEnd = src.indexOf('\n', j) < 0 ? src.length : src.indexOf('\n', j);
      const rest = src.slice(j, restEnd);
      if (rest.trim() !== '' && !/^\s+#/.test(rest) && !rest.trim().startsWith('#')) throw fail('unexpected text after the closing quote');
      i = restEnd + 1;
    } else {
      const rest = src.slice(j, end);
      const hash = rest.search(/(^|\s)#/);
      value = (hash >= 0 ? rest.slice(0, hash) : rest).trim();
      i = end + 1;
    }
    out.push([key, value]);
    line++;
  }
  return out;
}

export interface TemplatePart {
  /** literal text, or the reference inside {{ … }} */
  text: string;
  ref: boolean;
}

/** Splits a template into literal text and `{{ kpm://… }}` references (spaces inside the braces are optional). */
export function scanTemplate(template: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  const re = /\{\{[ \t]*(kpm:\/\/[^}\n]*?)[ \t]*\}\}/gi;
  let last = 0;
  for (const m of template.matchAll(re)) {
    if (m.index! > last) parts.push({ text: template.slice(last, m.index), ref: false });
    parts.push({ text: m[1], ref: true });
    last = m.index! + m[0].length;
  }
  if (last < template.length) parts.push({ text: template.slice(last), ref: false });
  return parts;
}
