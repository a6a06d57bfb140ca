// Loaded by path (Temporal's failureConverterPath), by the worker and inside the workflow bundle, hence plain
// CommonJS. Failure messages and stack traces travel as encoded attributes, so the payload codec encrypts them:
// an SMTP error names its recipient, a refusal may quote what was sent.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
