import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The README's request bodies: tests send exactly what the walkthrough documents. */
export function example<T = Record<string, any>>(name: string): T {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../examples/${name}`, import.meta.url)), 'utf8')) as T;
}

/** An example file as it is on disk (examples/predictions.csv, which the README uploads). */
export function exampleText(name: string): string {
  return readFileSync(fileURLToPath(new URL(`../../examples/${name}`, import.meta.url)), 'utf8');
}

/** The registration example under another id, so tests sharing a server don't collide. */
export function registrationFor(id: string): Record<string, any> {
  return { ...example('register.json'), id };
}
