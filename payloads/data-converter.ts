import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec } from './codec.js';
import type { PayloadKeys } from './keys.js';

/**
 * What every Temporal client and worker of this product is given: workflow
 * inputs, results, messages, activity arguments, memos and query answers are
 * encrypted before they leave the process, so a Temporal operator sees no
 * personal data or assessment content. Search attributes are not payloads
 * the codec sees: they hold ids and person keys only (domain/visibility.ts).
 */
export function dataConverterFor(codec: EncryptionCodec): DataConverter {
  return { payloadCodecs: [codec] };
}

export function payloadCodec(keys: PayloadKeys): EncryptionCodec {
  return new EncryptionCodec(keys);
}
