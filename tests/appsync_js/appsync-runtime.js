/**
 * The parts of AppSync's APPSYNC_JS runtime the resolvers use, for running them under node.
 *
 * `@aws-appsync/utils` ships only type definitions and an empty `util` object: AppSync provides the
 * implementation at run time. This module fills that same object (the one the resolvers import) with
 * implementations that follow AppSync's documented behaviour:
 * - util.dynamodb.toDynamoDB / toMapValues: JavaScript values to DynamoDB attribute values (S, N, BOOL, NULL,
 *   L, M; numbers as strings; undefined properties left out).
 * - util.error: stops the resolver, as AppSync does; here it throws an AppSyncError carrying message and type.
 * - util.time.nowISO8601 and util.autoId: deterministic through setNow / a counter, so tests can compare.
 * - util.matches: a whole-value match, as Java's Pattern.matches (which AppSync's documentation names).
 */
import { util } from '@aws-appsync/utils';

export class AppSyncError extends Error {
  constructor(message, type, data, errorInfo) {
    super(message);
    this.name = 'AppSyncError';
    this.type = type;
    this.data = data;
    this.errorInfo = errorInfo;
  }
}

let now = '2026-11-23T12:00:00.000Z';
let ids = 0;

export function setNow(iso) {
  now = iso;
}

function toDynamoDB(value) {
  if (value === null) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(toDynamoDB) };
  if (typeof value === 'object') return { M: toMapValues(value) };
  throw new TypeError(`no DynamoDB representation for ${typeof value}`);
}

function toMapValues(object) {
  const map = {};
  for (const [key, value] of Object.entries(object)) {
    if (value !== undefined) map[key] = toDynamoDB(value);
  }
  return map;
}

Object.assign(util, {
  error(message, type, data, errorInfo) {
    throw new AppSyncError(message, type, data, errorInfo);
  },
  autoId() {
    ids += 1;
    return `00000000-0000-4000-8000-${String(ids).padStart(12, '0')}`;
  },
  time: {
    nowISO8601: () => now,
  },
  // AppSync's util.matches is Java's Pattern.matches: the pattern must match the whole value.
  matches: (pattern, value) => new RegExp(`^(?:${pattern})$`).test(value),
  dynamodb: { toDynamoDB, toMapValues },
});

/** The `ctx` AppSync hands a resolver: arguments, and for the response handler the data source's answer. */
export function context({ args = {}, result, error, identity } = {}) {
  return { args, result, error, identity, stash: {}, prev: {}, source: null, info: {} };
}

/** The error DynamoDB reports when a request's condition is false, as AppSync passes it in ctx.error. */
export const CONDITION_FAILED = {
  type: 'DynamoDB:ConditionalCheckFailedException',
  message: 'The conditional request failed (Service: DynamoDb, Status Code: 400)',
};

export { util };
