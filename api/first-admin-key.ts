import { parseEnv, requireProduction } from '../config/env.js';
import { runMain } from '../config/run-main.js';
import { emailSchema } from '../domain/system.js';
import { countAdminKeys } from '../store/access.js';
import { openStore } from '../store/index.js';
import { createApiKey } from './routes/auth.js';

/**
 * The first admin key of a production deployment (`npm run admin:first-key -- <e-mail>`,
 * or `docker compose run --rm api npm run admin:first-key -- <e-mail>`): made
 * straight in the record store, printed once. It refuses while any admin key is
 * active, so it cannot become a back door; further keys come from an admin
 * through the API or `ai-lifecycle keys create`.
 */
runMain(async () => {
  const env = parseEnv();
  requireProduction(env, ['DATABASE_URL']);
  const email = emailSchema.safeParse(process.argv[2] ?? '');
  if (!email.success) {
    console.error("usage: npm run admin:first-key -- <the admin's e-mail address>");
    process.exit(2);
  }
  const store = await openStore({ databaseUrl: env.DATABASE_URL });
  try {
    if ((await countAdminKeys(store.db)) > 0) {
      console.error('An admin key is active already: an admin makes further keys with `ai-lifecycle keys create`.');
      process.exit(1);
    }
    const { key, row } = await createApiKey(
      { store },
      { name: 'first admin', email: email.data, role: 'admin' },
      'admin:first-key',
    );
    console.log(`Admin API key ${row.id} for ${row.email} (shown only now; only its hash is stored):\n${key}`);
  } finally {
    await store.close();
  }
});
