import type { PersonKeys } from '../payloads/person-keys.js';
import type { Store } from '../store/index.js';

/**
 * Who the people behind listed systems are. Temporal's visibility store
 * holds person keys only (no e-mail address in a memo or search attribute),
 * so the governance views name people from the record store: each system's
 * owner and risk owner from its projection, and the approver behind a
 * pending-approver key among the people who can hold a request (owner, risk
 * owner, governance lead, deputies delegated to). One query per table for a
 * whole listing, never one per system.
 */
export interface SystemPeople {
  owner: string | null;
  riskOwner: string | null;
  /** The e-mail address a person key published for this system stands for, if the store knows them yet. */
  byKey(key: string | null): string | null;
}

export interface People {
  readonly keys: PersonKeys;
  of(systemIds: readonly string[]): Promise<Map<string, SystemPeople>>;
}

export function storePeople(store: Store, keys: PersonKeys, governanceLead: string): People {
  return {
    keys,
    async of(systemIds) {
      const ids = [...new Set(systemIds)];
      const out = new Map<string, SystemPeople>();
      if (ids.length === 0) return out;
      const [rows, delegations] = await Promise.all([
        store.db
          .selectFrom('systems')
          .select(['systemId', 'owner', 'riskOwner'])
          .where('systemId', 'in', ids)
          .execute(),
        store.db
          .selectFrom('events')
          .select(['systemId', 'payload'])
          .where('systemId', 'in', ids)
          .where('type', '=', 'approval_delegated')
          .execute(),
      ]);
      const deputies = new Map<string, string[]>();
      for (const d of delegations) {
        const deputy = (d.payload as { deputy?: unknown } | null)?.deputy;
        if (typeof deputy === 'string') deputies.set(d.systemId, [...(deputies.get(d.systemId) ?? []), deputy]);
      }
      const byId = new Map(rows.map((r) => [r.systemId, r]));
      for (const id of ids) {
        const row = byId.get(id);
        const candidates = [row?.owner, row?.riskOwner, governanceLead, ...(deputies.get(id) ?? [])].filter(
          (e): e is string => typeof e === 'string' && e.length > 0,
        );
        const directory = new Map<string, string>();
        for (const email of candidates) for (const k of keys.candidates(email)) directory.set(k, email);
        out.set(id, {
          owner: row?.owner ?? null,
          riskOwner: row?.riskOwner ?? null,
          byKey: (key) => (key ? (directory.get(key) ?? null) : null),
        });
      }
      return out;
    },
  };
}
