// ESLint 9 flat config. Deliberately small: eslint:recommended correctness rules, the two promise rules (which need
// type information), and the boundary that keeps Node built-ins out of workflow code. Formatting is Prettier's job.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// Node built-ins: `node:` anything (some, like `node:test`, exist only with the prefix), and every bare name Node
// resolves to a built-in (`fs`, `fs/promises`, `path`, `crypto`, ...), with any subpath.
const bareBuiltins = builtinModules.filter((name) => !name.startsWith('_') && !name.startsWith('node:'));
const nodeBuiltinImport = `^(?:node:|(?:${bareBuiltins.join('|')})(?:/|$))`;
const sandboxMessage =
  'Node built-ins are not allowed here: workflows/ runs in the Temporal workflow sandbox, which must stay ' +
  'deterministic and has no Node APIs, and domain/ is imported by that code. Do I/O in an activity (activities/).';

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'test-artifacts/', 'dist/'] },

  {
    files: ['**/*.{js,mjs,cjs,ts,mts,cts}'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: globals.node },
    rules: {
      // Unused names are style, not correctness, and TypeScript signatures (parameter names in function types)
      // trip the base rule.
      'no-unused-vars': 'off',
    },
  },

  {
    files: ['**/*.{ts,mts,cts}'],
    // Turns off the eslint:recommended rules that TypeScript checks itself (no-undef, no-redeclare, ...).
    extends: [tseslint.configs.eslintRecommended],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },

  {
    files: ['workflows/**', 'domain/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: nodeBuiltinImport, message: sandboxMessage }] }],
    },
  },
);
