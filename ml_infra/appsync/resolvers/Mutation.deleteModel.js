/**
 * Mutation.deleteModel: deletes a model version that is REGISTERED or ARCHIVED.
 *
 * A version in STAGING or PRODUCTION may be serving traffic: the delete is conditional on the current status,
 * so it must be archived (updateModelStatus) before it can be deleted.
 */
import { util } from '@aws-appsync/utils';

export function request(ctx) {
  const { name, version } = ctx.args;
  return {
    operation: 'DeleteItem',
    key: util.dynamodb.toMapValues({ name, version }),
    condition: {
      expression: 'attribute_exists(#name) AND #status IN (:registered, :archived)',
      expressionNames: { '#name': 'name', '#status': 'status' },
      expressionValues: util.dynamodb.toMapValues({ ':registered': 'REGISTERED', ':archived': 'ARCHIVED' }),
    },
  };
}

export function response(ctx) {
  if (ctx.error) {
    if (ctx.error.type === 'DynamoDB:ConditionalCheckFailedException') {
      const { name, version } = ctx.args;
      util.error(
        `Model ${name} version ${version} cannot be deleted: it is not registered, or it is in STAGING or ` +
          'PRODUCTION (archive it first)',
        'ModelVersionNotDeletable',
      );
    }
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
