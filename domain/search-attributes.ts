import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes: governance views list systems through Temporal's
 * visibility store with these instead of querying every workflow or scanning
 * the database. Values are ids and pseudonymous keys, never e-mail addresses,
 * because visibility data is stored unencrypted.
 */
export const SA = {
  systemId: defineSearchAttributeKey('AiSystemId', SearchAttributeType.KEYWORD),
  stage: defineSearchAttributeKey('AiStage', SearchAttributeType.KEYWORD),
  riskTier: defineSearchAttributeKey('AiRiskTier', SearchAttributeType.KEYWORD),
  reviewDueAt: defineSearchAttributeKey('AiReviewDueAt', SearchAttributeType.DATETIME),
  owner: defineSearchAttributeKey('AiOwner', SearchAttributeType.KEYWORD),
  pendingApprover: defineSearchAttributeKey('AiPendingApprover', SearchAttributeType.KEYWORD),
} as const;

export const allSearchAttributes = Object.values(SA);

/** `Name=Type` pairs as `temporal server start-dev --search-attribute` and `operator search-attribute create` take them. */
export function searchAttributeCliArgs(): string[] {
  const cliType: Record<string, string> = {
    [SearchAttributeType.KEYWORD]: 'Keyword',
    [SearchAttributeType.DATETIME]: 'Datetime',
    [SearchAttributeType.TEXT]: 'Text',
    [SearchAttributeType.INT]: 'Int',
    [SearchAttributeType.DOUBLE]: 'Double',
    [SearchAttributeType.BOOL]: 'Bool',
    [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
  };
  return allSearchAttributes.map((k) => `${k.name}=${cliType[k.type]}`);
}
