import { z } from 'zod';
import { storable } from './storable.js';

export const systemIdSchema = z
  .string()
  .min(3)
  .max(63)
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'must be a lowercase slug: letters, digits and single hyphens');

export const emailSchema = z.email('must be an e-mail address').transform((e) => e.toLowerCase());

export const modelSchema = z.object({
  name: z.string().trim().min(1).max(200),
  version: z.string().trim().min(1).max(100),
  provider: z.string().trim().min(1).max(200).optional(),
});

export const deploymentSchema = z.object({
  context: z.string().trim().min(10, 'describe where and how the system is used (10 characters at least)').max(4000),
  environment: z.enum(['internal', 'customer_facing', 'public']).default('internal'),
  geographies: z.array(z.string().trim().min(2).max(100)).max(50).default([]),
  role: z.enum(['provider', 'deployer', 'provider_and_deployer']).default('provider_and_deployer'),
});

export const registrationSchema = storable(
  z.object({
    id: systemIdSchema,
    name: z.string().trim().min(1).max(200),
    purpose: z.string().trim().min(10, 'state the intended purpose (10 characters at least)').max(4000),
    owner: emailSchema,
    riskOwner: emailSchema,
    model: modelSchema,
    deployment: deploymentSchema,
    stakeholders: z
      .array(z.string().trim().min(1).max(200))
      .min(1, 'name at least one group of affected stakeholders')
      .max(100),
    /**
     * The attributes bias testing must cover (columns of the predictions file, features of declared metrics).
     * Optional: registrations from before the bias-testing gate have none, and evidence still covers every
     * feature it names.
     */
    sensitiveFeatures: z
      .array(z.string().trim().min(1).max(100))
      .max(20)
      .refine((f) => new Set(f).size === f.length, 'must not name a feature twice')
      .optional(),
  }),
);

export type Registration = z.infer<typeof registrationSchema>;

/** One workflow per system: the id is derived, so a second registration collides instead of forking. */
export function workflowIdFor(systemId: string): string {
  return `ai-system-${systemId}`;
}

/**
 * The person key runs before the 'person-key-hmac' patch published: FNV-1a,
 * unsalted, so a dictionary of addresses reverses it. Kept because their
 * histories replay it, and views still match old runs' keys; everything new
 * publishes payloads/person-keys.ts's HMAC under PERSON_KEY_SECRET.
 */
export function personKey(email: string): string {
  let hash = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (const byte of new TextEncoder().encode(email.trim().toLowerCase())) {
    hash ^= BigInt(byte);
    hash = (hash * prime) & 0xffffffffffffffffn;
  }
  return `p-${hash.toString(16).padStart(16, '0')}`;
}
