import type { z } from 'zod';

/**
 * PostgreSQL's text and jsonb cannot hold U+0000, and a lone UTF-16
 * surrogate has no UTF-8 form at all. A string like that, once accepted,
 * would make every later record of the lifecycle fail and retry forever;
 * so every input schema refuses it up front, naming the field.
 */
export function unstorableReason(text: string): string | null {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000), which cannot be stored';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return 'contains a lone surrogate (invalid Unicode), which cannot be stored';
    }
    if (c >= 0xdc00 && c <= 0xdfff) return 'contains a lone surrogate (invalid Unicode), which cannot be stored';
  }
  return null;
}

type Issue = { path: (string | number)[]; message: string };

function collect(value: unknown, path: (string | number)[], out: Issue[]): void {
  if (typeof value === 'string') {
    const reason = unstorableReason(value);
    if (reason) out.push({ path, message: reason });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collect(v, [...path, i], out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const reason = unstorableReason(k);
      if (reason) out.push({ path: [...path, k], message: `key ${reason}` });
      collect(v, [...path, k], out);
    }
  }
}

/** Every unstorable string in a value, with its path. */
export function unstorableIssues(value: unknown): Issue[] {
  const out: Issue[] = [];
  collect(value, [], out);
  return out;
}

/** The schema, refusing any string (or key) anywhere in it that the record store could not hold. */
export function storable<S extends z.ZodType>(schema: S): S {
  return schema.superRefine((value, ctx) => {
    for (const issue of unstorableIssues(value)) ctx.addIssue({ code: 'custom', ...issue });
  }) as unknown as S;
}
