import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

// The project's eslint.config.js, applied to snippets at paths that do not exist. Type-aware parsing needs files the
// TypeScript project knows, so it is switched off here: the import boundary does not use type information.
const root = fileURLToPath(new URL('..', import.meta.url));
const eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });

const snippet = [
  "import { readFileSync } from 'node:fs';",
  "import { join } from 'path';",
  "import { z } from 'zod';",
  'export const read = (p: string) => z.string().parse(readFileSync(join(p), "utf8"));',
  '',
].join('\n');

async function restrictedImports(relativePath: string) {
  const [result] = await eslint.lintText(snippet, { filePath: `${root}${relativePath}` });
  expect(result!.messages.filter((m) => m.fatal)).toEqual([]);
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports');
}

describe('ESLint: Node built-ins stay out of the workflow sandbox', () => {
  it.each(['workflows/lint-probe.ts', 'domain/lint-probe.ts'])('rejects node:fs and path in %s', async (file) => {
    const messages = await restrictedImports(file);
    expect(messages.map((m) => [m.line, m.severity])).toEqual([
      [1, 2],
      [2, 2],
    ]);
    expect(messages[0]!.message).toContain('Temporal workflow sandbox');
  });

  it('allows them in activities/', async () => {
    expect(await restrictedImports('activities/lint-probe.ts')).toEqual([]);
  });

  it('treats floating promises as errors everywhere', async () => {
    const config = (await new ESLint({ cwd: root }).calculateConfigForFile(`${root}activities/mailer.ts`)) as {
      rules: Record<string, unknown[]>;
    };
    expect(config.rules['@typescript-eslint/no-floating-promises']?.[0]).toBe(2);
  });
});
