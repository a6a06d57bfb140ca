/**
 * The payload codec on its own: AES-256-GCM with the key id in the metadata.
 * Real node:crypto, real payloads from the SDK's default converter.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterAll, describe, expect, it } from 'vitest';
import { apiErrorHandler } from '../api/errors.js';
import { codecRoutes } from '../api/routes/codec.js';
import { parseEnv } from '../config/env.js';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA, PayloadCodecError } from '../payloads/codec.js';
import { embeddedPayloadKeys, formatPayloadKeys, parsePayloadKeys, type PayloadKeys } from '../payloads/keys.js';
import { personKeys } from '../payloads/person-keys.js';

const b64 = () => randomBytes(32).toString('base64');
const K1 = b64();
const K2 = b64();
const text = (p: Payload) => Buffer.from(p.data ?? []).toString('utf8');
const meta = (p: Payload, k: string) => Buffer.from(p.metadata?.[k] ?? []).toString('utf8');
const value = { owner: 'alice@example.org', purpose: 'Screens CV text for the recruiting team' };
const plain = () => defaultPayloadConverter.toPayload(value);

describe('EncryptionCodec', () => {
  it('round-trips a payload and hides its data, its encoding and nothing but the key id', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`k1:${K1}`));
    const [sealed] = await codec.encode([plain()]);
    expect(meta(sealed!, 'encoding')).toBe(ENCRYPTED_ENCODING);
    expect(meta(sealed!, KEY_ID_METADATA)).toBe('k1');
    expect(Object.keys(sealed!.metadata!).sort()).toEqual(['encoding', KEY_ID_METADATA].sort());
    expect(text(sealed!)).not.toContain('alice');
    expect(Buffer.from(sealed!.data!).toString('utf8')).not.toContain('json/plain');
    const [opened] = await codec.decode([sealed!]);
    expect(defaultPayloadConverter.fromPayload(opened!)).toEqual(value);
    expect(meta(opened!, 'encoding')).toBe('json/plain');
    // A fresh IV every time: equal values do not give equal ciphertexts.
    const [again] = await codec.encode([plain()]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(sealed!.data!))).toBe(false);
  });

  it('passes through payloads it did not encrypt (histories from before encryption)', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`k1:${K1}`));
    const p = plain();
    const [out] = await codec.decode([p]);
    expect(out).toBe(p);
    expect(defaultPayloadConverter.fromPayload(out!)).toEqual(value);
  });

  it('rotates: the new first key encrypts, the old one still decrypts what it sealed', async () => {
    const before = new EncryptionCodec(parsePayloadKeys(`k1:${K1}`));
    const [old] = await before.encode([plain()]);
    const after = new EncryptionCodec(parsePayloadKeys(`k2:${K2},k1:${K1}`));
    const [fresh] = await after.encode([plain()]);
    expect(meta(fresh!, KEY_ID_METADATA)).toBe('k2');
    const [a, b] = await after.decode([old!, fresh!]);
    expect(defaultPayloadConverter.fromPayload(a!)).toEqual(value);
    expect(defaultPayloadConverter.fromPayload(b!)).toEqual(value);
    // Without k2, its payloads are refused by name.
    await expect(before.decode([fresh!])).rejects.toThrow(/key id “k2”, which is not among the configured keys \(k1\)/);
  });

  it('refuses tampered ciphertext, a relabelled key id, and a wrong key under a known id', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`k2:${K2},k1:${K1}`));
    const [sealed] = await codec.encode([plain()]);
    const flipped = Buffer.from(sealed!.data!);
    flipped[20]! ^= 0x01;
    await expect(codec.decode([{ ...sealed!, data: flipped }])).rejects.toThrow(PayloadCodecError);
    await expect(codec.decode([{ ...sealed!, data: flipped }])).rejects.toThrow(/key “k2” failed authentication/);
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, [KEY_ID_METADATA]: Buffer.from('k1') } };
    await expect(codec.decode([relabelled])).rejects.toThrow(/key “k1” failed authentication/);
    const impostor = new EncryptionCodec(parsePayloadKeys(`k2:${b64()}`));
    await expect(impostor.decode([sealed!])).rejects.toThrow(/failed authentication/);
    await expect(codec.decode([{ ...sealed!, data: Buffer.alloc(5) }])).rejects.toThrow(/too short/);
  });

  it('refuses an unknown key id, or none, with a message that says what to configure', async () => {
    const codec = new EncryptionCodec(parsePayloadKeys(`k1:${K1}`));
    const [sealed] = await new EncryptionCodec(parsePayloadKeys(`other:${K2}`)).encode([plain()]);
    const err = await codec.decode([sealed!]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadCodecError);
    expect((err as Error).message).toMatch(/“other”.*not among the configured keys \(k1\).*PAYLOAD_ENCRYPTION_KEYS/);
    const { [KEY_ID_METADATA]: _, ...noId } = sealed!.metadata!;
    await expect(codec.decode([{ ...sealed!, metadata: noId }])).rejects.toThrow(/no encryption-key-id/);
  });
});

describe('PAYLOAD_ENCRYPTION_KEYS', () => {
  const problems = (v: string) => {
    try {
      parseEnv({ PAYLOAD_ENCRYPTION_KEYS: v });
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('parses a rotation list: the first key is current', () => {
    const env = parseEnv({ PAYLOAD_ENCRYPTION_KEYS: ` k2:${K2} , k1:${K1}` });
    const keys = env.PAYLOAD_ENCRYPTION_KEYS!;
    expect(keys.current).toBe('k2');
    expect([...keys.keys.keys()]).toEqual(['k2', 'k1']);
    expect(keys.keys.get('k1')!.toString('base64')).toBe(K1);
    expect(parsePayloadKeys(formatPayloadKeys(keys))).toEqual(keys);
  });

  it('names the entry and the reason, never the key material', () => {
    const short = randomBytes(16).toString('base64');
    expect(problems(`k1:${short}`)).toMatch(
      /PAYLOAD_ENCRYPTION_KEYS: entry 1 of 1 \(“k1”\): the key must be 32 bytes.*got 16 bytes/,
    );
    expect(problems(`k1:${short}`)).not.toContain(short);
    expect(problems(`k1:${K1},k1:${K2}`)).toMatch(/entry 2 of 2: key id “k1” is listed twice/);
    expect(problems(K1)).toMatch(/entry 1 of 1 must be <key id>:<base64 key>/);
    expect(problems(`k1:${K1},bad id:${K2}`)).toMatch(/entry 2 of 2 must be <key id>/);
    expect(problems(`k1:not base64!`)).toMatch(/not base64/);
  });
});

describe('embedded payload keys', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('are made once into $DATA_DIR/payload-keys with mode 0600 and reused after', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'payload-keys-'));
    dirs.push(dir);
    const first: PayloadKeys = await embeddedPayloadKeys(dir);
    const file = join(dir, 'payload-keys');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const second = await embeddedPayloadKeys(dir);
    expect(second).toEqual(first);
    expect((await readFile(file, 'utf8')).trim()).toBe(formatPayloadKeys(first));
    // A damaged file stops start-up rather than being replaced, which would orphan every recorded payload.
    await writeFile(file, 'k1:short\n');
    await expect(embeddedPayloadKeys(dir)).rejects.toThrow(/payload-keys: entry 1 of 1 \(“k1”\)/);
  });
});

describe('person keys', () => {
  it('are HMACs: stable per address, different under another secret, not the legacy hash', () => {
    const a = personKeys('a'.repeat(32));
    const b = personKeys('b'.repeat(32));
    expect(a.key('Alice@Example.org ')).toBe(a.key('alice@example.org'));
    expect(a.key('alice@example.org')).toMatch(/^k-[0-9a-f]{32}$/);
    expect(a.key('alice@example.org')).not.toBe(b.key('alice@example.org'));
    expect(a.candidates('alice@example.org')).toEqual([a.key('alice@example.org'), expect.stringMatching(/^p-/)]);
    expect(() => personKeys('short')).toThrow(/at least 32/);
  });
});

describe('codec routes: CORS for the Temporal UI', () => {
  const UI = 'http://localhost:8233';
  const codec = new EncryptionCodec(parsePayloadKeys(`k1:${K1}`));
  async function app(temporalUiOrigin?: string) {
    // The routes alone, without the auth plugin (test/personal-data.test.ts covers them behind it).
    const a = Fastify().withTypeProvider<ZodTypeProvider>();
    a.setValidatorCompiler(validatorCompiler);
    a.setSerializerCompiler(serializerCompiler);
    a.setErrorHandler(apiErrorHandler);
    await a.register(codecRoutes({ payloadCodec: codec, temporalUiOrigin }));
    return a;
  }
  const preflight = (a: Awaited<ReturnType<typeof app>>, origin: string) =>
    a.inject({
      method: 'OPTIONS',
      url: '/codec/decode',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace',
      },
    });

  it('answers the preflight and the POST with CORS headers for the configured origin only', async () => {
    const a = await app(UI);
    const ok = await preflight(a, UI);
    expect(ok.statusCode).toBe(204);
    expect(ok.headers).toMatchObject({
      'access-control-allow-origin': UI,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'POST, OPTIONS',
      vary: 'Origin',
    });
    expect(String(ok.headers['access-control-allow-headers'])).toMatch(/X-Namespace/);
    const other = await preflight(a, 'http://evil.example');
    expect(other.statusCode).toBe(403);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();

    const [sealed] = await codec.encode([plain()]);
    const payload = {
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(sealed!.data!).toString('base64'),
        },
      ],
    };
    const res = await a.inject({ method: 'POST', url: '/codec/decode', headers: { origin: UI }, payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(UI);
    expect(JSON.parse(Buffer.from(res.json().payloads[0].data, 'base64').toString('utf8'))).toEqual(value);
    const bad = await a.inject({ method: 'POST', url: '/codec/decode', payload: { payloads: [{ data: '***' }] } });
    expect(bad.statusCode).toBe(422);
    expect(bad.body).toContain('body.payloads.0.data');
    await a.close();
  });

  it('allows no origin when TEMPORAL_UI_ORIGIN is not set, and says so', async () => {
    const a = await app(undefined);
    const res = await preflight(a, UI);
    expect(res.statusCode).toBe(403);
    expect(res.json().message).toMatch(/TEMPORAL_UI_ORIGIN/);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    await a.close();
  });

  it('TEMPORAL_UI_ORIGIN must be an origin', () => {
    expect(parseEnv({ TEMPORAL_UI_ORIGIN: 'http://localhost:8233/' }).TEMPORAL_UI_ORIGIN).toBe(UI);
    expect(() => parseEnv({ TEMPORAL_UI_ORIGIN: 'http://localhost:8233/namespaces' })).toThrow(
      /TEMPORAL_UI_ORIGIN: must be an origin/,
    );
  });
});
