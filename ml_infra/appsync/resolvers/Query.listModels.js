/**
 * Query.listModels: one page of model versions, optionally filtered by name and/or status.
 *
 * - name (with or without status): a Query on the `byVersion` index (name, versionOrder), every version of
 *   that model, newest version first in version order (2026.11.2 before 2026.9.1: `versionOrder` is the
 *   version zero-padded number by number, see Mutation.registerModel); a status is then a filter on that
 *   partition.
 * - status only: a Query on the `byStatus` index (status, updatedAt), latest status change first.
 * - no filter: a Scan of the table.
 *
 * DynamoDB applies `limit` before a filter, so a filtered page can hold fewer items than `limit` while a
 * `nextToken` still follows. A `nextToken` is only valid with the filter that produced it.
 */
import { util } from '@aws-appsync/utils';

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;
// The model-name format the schema documents (Mutation.registerModel refuses any other name).
const NAME = '[a-z][a-z0-9-]{0,62}';

export function request(ctx) {
  const filter = ctx.args.filter ?? {};
  const limit = ctx.args.limit ?? DEFAULT_LIMIT;
  if (limit < 1 || limit > MAX_LIMIT) {
    util.error(`limit must be between 1 and ${MAX_LIMIT}, got ${limit}`, 'BadRequest');
  }
  if (filter.name != null && !util.matches(NAME, filter.name)) {
    util.error(
      `filter.name ${JSON.stringify(filter.name)} is not a model name; allowed: 1-63 lower-case letters, digits ` +
        "and '-', starting with a letter",
      'BadRequest',
    );
  }
  const page = ctx.args.nextToken ? { limit, nextToken: ctx.args.nextToken } : { limit };

  if (filter.name) {
    const byName = {
      operation: 'Query',
      index: 'byVersion',
      query: {
        expression: '#name = :name',
        expressionNames: { '#name': 'name' },
        expressionValues: util.dynamodb.toMapValues({ ':name': filter.name }),
      },
      scanIndexForward: false,
      ...page,
    };
    if (filter.status) {
      byName.filter = {
        expression: '#status = :status',
        expressionNames: { '#status': 'status' },
        expressionValues: util.dynamodb.toMapValues({ ':status': filter.status }),
      };
    }
    return byName;
  }
  if (filter.status) {
    return {
      operation: 'Query',
      index: 'byStatus',
      query: {
        expression: '#status = :status',
        expressionNames: { '#status': 'status' },
        expressionValues: util.dynamodb.toMapValues({ ':status': filter.status }),
      },
      scanIndexForward: false,
      ...page,
    };
  }
  return { operation: 'Scan', ...page };
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return { items: ctx.result.items ?? [], nextToken: ctx.result.nextToken ?? null };
}
