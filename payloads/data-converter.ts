import { fileURLToPath } from 'node:url';
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import { EncryptionCodec } from './codec.js';
import type { PayloadKeys } from './keys.js';
import { UnreadableAsValue } from './unreadable.js';

/**
 * What every Temporal client and worker of this product is given: workflow
 * inputs, results, messages, activity arguments, memos and query answers are
 * encrypted before they leave the process, so a Temporal operator sees no
 * personal data or assessment content. Search attributes are not payloads
 * the codec sees: they hold ids and person keys only (domain/visibility.ts).
 */
export function dataConverterFor(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [new UnreadableAsValue(codec)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/** Failure messages and stacks go into the encoded attributes, which the codec encrypts like any payload. */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

export function payloadCodec(keys: PayloadKeys): EncryptionCodec {
  return new EncryptionCodec(keys);
}
