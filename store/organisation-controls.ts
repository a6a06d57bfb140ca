import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, OrganisationControlEntriesTable } from './schema.js';

/**
 * The organisation's documented information per ISO/IEC 42001 control. An
 * entry is added (several documents may evidence one control) or replaces
 * the control's current entries, which stay on record as superseded.
 */
export type OrganisationControlEntryRow = Selectable<OrganisationControlEntriesTable>;

export type NewOrganisationControlEntry = Pick<
  OrganisationControlEntryRow,
  'controlId' | 'documentReference' | 'reviewDate' | 'note' | 'recordedBy' | 'recordedById'
>;

export async function addOrganisationControlEntry(
  db: Kysely<Database>,
  entry: NewOrganisationControlEntry,
  opts: { replace: boolean },
): Promise<{ entry: OrganisationControlEntryRow; superseded: number }> {
  return db.transaction().execute(async (trx) => {
    let superseded = 0;
    if (opts.replace) {
      const result = await trx
        .updateTable('organisationControlEntries')
        .set({ supersededAt: sql<Date>`now()` })
        .where('controlId', '=', entry.controlId)
        .where('supersededAt', 'is', null)
        .executeTakeFirst();
      superseded = Number(result.numUpdatedRows);
    }
    const row = await trx
      .insertInto('organisationControlEntries')
      .values(entry)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { entry: row, superseded };
  });
}

/** Current entries (and, with `history`, the superseded ones too), by control then in the order recorded. */
export async function listOrganisationControlEntries(
  db: Kysely<Database>,
  opts: { controlId?: string; history?: boolean } = {},
): Promise<OrganisationControlEntryRow[]> {
  let q = db.selectFrom('organisationControlEntries').selectAll();
  if (opts.controlId !== undefined) q = q.where('controlId', '=', opts.controlId);
  if (!opts.history) q = q.where('supersededAt', 'is', null);
  return q.orderBy('controlId').orderBy('id').execute();
}
