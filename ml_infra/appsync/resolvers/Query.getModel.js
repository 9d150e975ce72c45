/**
 * Query.getModel: one model version, read by its key (name, version); null when it is not registered.
 *
 * APPSYNC_JS unit resolver on the registry table's DynamoDB data source.
 */
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  const { name, version } = ctx.args;
  return {
    operation: 'GetItem',
    key: util.dynamodb.toMapValues({ name, version }),
    // A status read right after updateModelStatus must see the new status.
    consistentRead: true,
  };
}

export function response(ctx) {
  if (ctx.error) {
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result ?? null;
}
