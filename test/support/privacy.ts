import { dataConverterFor, payloadCodec } from '../../payloads/data-converter.js';
import { parsePayloadKeys } from '../../payloads/keys.js';
import { personKeys } from '../../payloads/person-keys.js';

/**
 * The payload keys and person-key secret of the test harnesses, fixed so
 * that the test process and the product processes it spawns (topology, `npm
 * start`) read each other's payloads.
 */
export const TEST_PAYLOAD_ENCRYPTION_KEYS = 'test1:IDpWbzAUWK9DAWAN8o5y1IZD1SNGGptjU1wqS7615ww=';
export const TEST_PERSON_KEY_SECRET = 'person-key-test-secret-that-is-long-enough-0123';

export const testPayloadCodec = payloadCodec(parsePayloadKeys(TEST_PAYLOAD_ENCRYPTION_KEYS));
export const testDataConverter = dataConverterFor(testPayloadCodec);
export const testPersonKeys = personKeys(TEST_PERSON_KEY_SECRET);

/** What buildApi's context and createActivities' deps take for personal data, in tests. */
export const testPrivacy = { payloadCodec: testPayloadCodec, personKeys: testPersonKeys };
