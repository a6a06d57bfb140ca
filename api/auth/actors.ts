import type { FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { principalOf } from './plugin.js';

/**
 * Actors come from the credential, never from the body. A body may leave an
 * actor field out (it is filled with the caller's e-mail) or name the caller;
 * naming anyone else is refused with 422, because a record saying "x did
 * this" must mean that x's credential did it.
 *
 * Each path names one actor field of the route's body, e.g. ['submittedBy']
 * or ['biasEvidence', 'submittedBy']; a path whose parent object is absent is
 * skipped (an optional part not sent).
 */
export function bindActors(paths: readonly (readonly string[])[]) {
  return async (req: FastifyRequest): Promise<void> => {
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return; // the schema names what is wrong
    const email = principalOf(req).email;
    const issues: { path: string; message: string }[] = [];
    for (const path of paths) {
      let parent: unknown = body;
      for (const key of path.slice(0, -1))
        parent = Object.hasOwn(parent as object, key) ? (parent as Record<string, unknown>)[key] : undefined;
      if (typeof parent !== 'object' || parent === null || Array.isArray(parent)) continue;
      const field = path[path.length - 1]!;
      const holder = parent as Record<string, unknown>;
      const value = Object.hasOwn(holder, field) ? holder[field] : undefined;
      if (value === undefined) {
        holder[field] = email;
      } else if (typeof value !== 'string' || value.trim().toLowerCase() !== email) {
        issues.push({
          path: `body.${path.join('.')}`,
          message: `must be the authenticated caller (${email}) or left out: actors come from the credential, never from the body`,
        });
      }
    }
    if (issues.length > 0) {
      throw new ApiError(422, {
        error: 'actor_mismatch',
        message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
        issues,
      });
    }
  };
}
