#!/usr/bin/env node
// The `ai-lifecycle` command (package.json "bin"). The CLI is TypeScript like the rest of the project and shares its
// zod schemas (domain/), so it runs through tsx, resolved from this file's location and registered with this
// project's tsconfig: it works from any working directory, e.g. a CI job's checkout of the model's repository.
import { register } from 'tsx/esm/api';
import { fileURLToPath } from 'node:url';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import('./main.ts');
