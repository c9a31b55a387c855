import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The batch's status, so the Web UI can filter e.g. BatchStatus="in_progress". */
export const BATCH_STATUS = defineSearchAttributeKey('BatchStatus', SearchAttributeType.KEYWORD);
/** The batch's endpoint. */
export const BATCH_ENDPOINT = defineSearchAttributeKey('BatchEndpoint', SearchAttributeType.KEYWORD);
/** The batch's model, once validated. */
export const BATCH_MODEL = defineSearchAttributeKey('BatchModel', SearchAttributeType.KEYWORD);
/** The tenant that owns the batch. */
export const BATCH_OWNER = defineSearchAttributeKey('BatchOwner', SearchAttributeType.KEYWORD);

/** Every batch search attribute: registered at start (dev server flags, or the operator API). */
export const BATCH_SEARCH_ATTRIBUTE_KEYS = [BATCH_STATUS, BATCH_ENDPOINT, BATCH_MODEL, BATCH_OWNER] as const;
