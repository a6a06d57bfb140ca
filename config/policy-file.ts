import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parsePolicy, PolicyError, type Policy } from '../domain/policy.js';

export const defaultPolicyPath = fileURLToPath(new URL('../policy/default.json', import.meta.url));

/** Loads and validates the policy; any problem stops start-up with the file and field named. */
export async function loadPolicy(path: string = defaultPolicyPath): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PolicyError(path, [`cannot be read: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new PolicyError(path, [`is not valid JSON: ${(err as Error).message}`]);
  }
  return parsePolicy(raw, path);
}
