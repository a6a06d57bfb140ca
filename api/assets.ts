import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { BASE_CSS } from './html.js';
import { GOVERNANCE_CSS } from './pages/layout.js';

/**
 * The pages' stylesheets (and any script a page ever needs) as files of
 * their own: the CSP allows no inline style or script, so nothing injected
 * into a page can restyle or script it.
 */
const ASSETS: Record<string, { type: string; body: string }> = {
  'base.css': { type: 'text/css; charset=utf-8', body: BASE_CSS },
  'governance.css': { type: 'text/css; charset=utf-8', body: GOVERNANCE_CSS },
};
const etags = Object.fromEntries(
  Object.entries(ASSETS).map(([name, a]) => [
    name,
    `"${createHash('sha256').update(a.body).digest('base64url').slice(0, 22)}"`,
  ]),
);

export function registerAssetRoutes(app: FastifyInstance): void {
  app.get<{ Params: { file: string } }>(
    '/assets/:file',
    { schema: { hide: true }, config: { access: { open: 'static assets: stylesheets, no data' } } },
    async (req, reply) => {
      const asset = ASSETS[req.params.file];
      if (!asset || !Object.hasOwn(ASSETS, req.params.file)) {
        return reply.code(404).send({ error: 'not_found', message: `no asset named ${req.params.file}` });
      }
      const etag = etags[req.params.file]!;
      // Revalidated on every use: a deploy's new styles show at once, an unchanged file costs a 304.
      void reply.header('etag', etag).header('cache-control', 'no-cache');
      if (req.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(asset.type).send(asset.body);
    },
  );
}
