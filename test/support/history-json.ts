import { createRequire } from 'node:module';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';

/**
 * A history from its proto3 JSON (what `temporal workflow show --output json`
 * prints and test/histories holds). The SDK's historyFromJSON fails in this
 * install when @temporalio/common and @temporalio/proto each get their own
 * protobufjs ("type must be a Type"); then the conversion runs with the copy
 * @temporalio/proto was built with (as test/replay.test.ts does).
 */
export function historyFromJson(json: unknown): History {
  try {
    return historyFromJSON(json);
  } catch (err) {
    if (!(err instanceof TypeError && /type must be a Type/.test(err.message))) throw err;
    const require = createRequire(import.meta.url);
    const fromProto = createRequire(require.resolve('@temporalio/proto'));
    const protojson = fromProto('protobufjs/ext/protojson') as {
      fromJson(type: unknown, json: unknown): History | null;
    };
    const { patchProtobufRoot } = require('@temporalio/proto/lib/patch-protobuf-root') as {
      patchProtobufRoot(root: unknown): any;
    };
    const type = patchProtobufRoot(require('@temporalio/proto')).lookupType('temporal.api.history.v1.History');
    const history = protojson.fromJson(type, json);
    if (!history) throw new TypeError('Invalid history');
    return history;
  }
}
