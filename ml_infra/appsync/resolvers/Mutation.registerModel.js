/**
 * Mutation.registerModel: registers a new model version in status REGISTERED.
 *
 * A registered version is immutable: the write is conditional on no item existing under (name, version), so
 * registering the same version twice fails instead of overwriting the first registration.
 */
import { util } from '@aws-appsync/utils';

const MAX_KEY_LENGTH = 128;

export function request(ctx) {
  const { name, version, ...details } = ctx.args.input;
  if (!name || name.length > MAX_KEY_LENGTH || !version || version.length > MAX_KEY_LENGTH) {
    util.error(`name and version must each be 1-${MAX_KEY_LENGTH} characters`, 'BadRequest');
  }
  if (details.metrics != null && (typeof details.metrics !== 'object' || Array.isArray(details.metrics))) {
    util.error('metrics must be a JSON object, e.g. {"auc": 0.93}', 'BadRequest');
  }
  const now = util.time.nowISO8601();
  const item = { ...details, tags: details.tags ?? [], status: 'REGISTERED', createdAt: now, updatedAt: now };
  return {
    operation: 'PutItem',
    key: util.dynamodb.toMapValues({ name, version }),
    attributeValues: util.dynamodb.toMapValues(item),
    condition: {
      expression: 'attribute_not_exists(#name)',
      expressionNames: { '#name': 'name' },
    },
  };
}

export function response(ctx) {
  if (ctx.error) {
    if (ctx.error.type === 'DynamoDB:ConditionalCheckFailedException') {
      const { name, version } = ctx.args.input;
      util.error(
        `Model ${name} version ${version} is already registered; a registered version is never overwritten, ` +
          'register a new version instead',
        'ModelVersionAlreadyExists',
      );
    }
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
