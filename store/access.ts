import { sql, type Kysely, type Selectable } from 'kysely';
import type { ApiKeysTable, Database, SystemAccessTable } from './schema.js';

/**
 * Identity and access rows: API keys, each system's team, and single-use
 * login links. Secrets arrive here already hashed (api/auth/keys.ts); this
 * module never sees one.
 */
export type ApiKeyRow = Selectable<ApiKeysTable>;
export type SystemAccessRow = Selectable<SystemAccessTable>;

export async function insertApiKey(
  db: Kysely<Database>,
  key: Omit<ApiKeyRow, 'createdAt' | 'revokedAt' | 'lastUsedAt'>,
) {
  return db.insertInto('apiKeys').values(key).returningAll().executeTakeFirstOrThrow();
}

/** The key a hash belongs to, if it is neither revoked nor expired; marks it used (at most once a minute, to spare writes). */
export async function useApiKey(db: Kysely<Database>, hash: string): Promise<ApiKeyRow | undefined> {
  const row = await db
    .selectFrom('apiKeys')
    .selectAll()
    .where('hash', '=', hash)
    .where('revokedAt', 'is', null)
    .where((eb) => eb.or([eb('expiresAt', 'is', null), eb('expiresAt', '>', sql<Date>`now()`)]))
    .executeTakeFirst();
  // The row says when it was last marked: within the minute, no write at all (one statement fewer per request).
  const fresh = row?.lastUsedAt && Date.now() - new Date(row.lastUsedAt).getTime() < 60_000;
  if (row && !fresh) await touchApiKey(db, row.id);
  return row;
}

export async function getApiKey(db: Kysely<Database>, id: string): Promise<ApiKeyRow | undefined> {
  return db.selectFrom('apiKeys').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function touchApiKey(db: Kysely<Database>, id: string): Promise<void> {
  await db
    .updateTable('apiKeys')
    .set({ lastUsedAt: sql<Date>`now()` })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('lastUsedAt', 'is', null), eb('lastUsedAt', '<', sql<Date>`now() - interval '1 minute'`)]))
    .execute();
}

export async function listApiKeys(db: Kysely<Database>): Promise<ApiKeyRow[]> {
  return db.selectFrom('apiKeys').selectAll().orderBy('createdAt').orderBy('id').execute();
}

/** Revokes a key for good; answers the row, or undefined for an unknown id. Revoking twice keeps the first time. */
export async function revokeApiKey(db: Kysely<Database>, id: string): Promise<ApiKeyRow | undefined> {
  await db
    .updateTable('apiKeys')
    .set({ revokedAt: sql<Date>`now()` })
    .where('id', '=', id)
    .where('revokedAt', 'is', null)
    .execute();
  return getApiKey(db, id);
}

export async function countAdminKeys(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom('apiKeys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', 'admin')
    .where('revokedAt', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Written once at registration; a second registration of the same id keeps the first team (the workflow refuses it anyway). */
export async function putSystemAccess(
  db: Kysely<Database>,
  row: Omit<SystemAccessRow, 'createdAt'>,
): Promise<SystemAccessRow> {
  await db
    .insertInto('systemAccess')
    .values(row)
    .onConflict((oc) => oc.column('systemId').doNothing())
    .execute();
  return (await getSystemAccess(db, row.systemId))!;
}

export async function getSystemAccess(db: Kysely<Database>, systemId: string): Promise<SystemAccessRow | undefined> {
  return db.selectFrom('systemAccess').selectAll().where('systemId', '=', systemId).executeTakeFirst();
}

/** The systems a principal limited to a team or to their own risk ownership may see. */
export async function visibleSystemIds(
  db: Kysely<Database>,
  scope: { team: string } | { riskOwner: string },
): Promise<string[]> {
  const q = db.selectFrom('systemAccess').select('systemId');
  const rows = await ('team' in scope ? q.where('team', '=', scope.team) : q.where('riskOwner', '=', scope.riskOwner))
    .orderBy('systemId')
    .execute();
  return rows.map((r) => r.systemId);
}

export async function insertLoginLink(db: Kysely<Database>, link: { hash: string; keyId: string; expiresAt: Date }) {
  await db.insertInto('loginLinks').values(link).execute();
}

/** Spends a login link: the key id if it was unused and unexpired, once; undefined ever after. */
export async function spendLoginLink(db: Kysely<Database>, hash: string): Promise<string | undefined> {
  const row = await db
    .updateTable('loginLinks')
    .set({ usedAt: sql<Date>`now()` })
    .where('hash', '=', hash)
    .where('usedAt', 'is', null)
    .where('expiresAt', '>', sql<Date>`now()`)
    .returning('keyId')
    .executeTakeFirst();
  return row?.keyId;
}
