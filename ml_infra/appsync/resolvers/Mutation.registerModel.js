/**
 * Mutation.registerModel: registers a new model version in status REGISTERED.
 *
 * A registered version is immutable: the write is conditional on no item existing under (name, version), so
 * registering the same version twice fails instead of overwriting the first registration.
 */
import { util } from '@aws-appsync/utils';

// The formats the schema documents (the name is the stack config's model-name rule). APPSYNC_JS has no regex
// literals: util.matches takes the pattern as text and, like Java's Pattern.matches, matches the whole value.
const NAME = '[a-z][a-z0-9-]{0,62}';
const VERSION = '[0-9]{1,9}([.][0-9]{1,9}){0,3}';
const ZEROS = '000000000'; // one per digit a version number may have

/**
 * The version as text whose byte order is version order: every number zero-padded to the same width, so that
 * DynamoDB's sort on the byVersion index puts 2026.11.2 after 2026.9.1 (as text, "2026.9.1" sorts after it).
 * (APPSYNC_JS has no String.padStart.)
 */
export function versionOrder(version) {
  return version
    .split('.')
    .map((part) => `${ZEROS}${part}`.slice(-ZEROS.length))
    .join('.');
}

export function request(ctx) {
  const { name, version, ...details } = ctx.args.input;
  if (!util.matches(NAME, name ?? '')) {
    util.error(
      `name ${JSON.stringify(name)} is not a model name; allowed: 1-63 lower-case letters, digits and '-', ` +
        'starting with a letter',
      'BadRequest',
    );
  }
  if (!util.matches(VERSION, version ?? '')) {
    util.error(
      `version ${JSON.stringify(version)} is not a version; allowed: 1-4 numbers of up to ${ZEROS.length} ` +
        "digits separated by '.', e.g. 2026.11.2",
      'BadRequest',
    );
  }
  if (details.metrics != null && (typeof details.metrics !== 'object' || Array.isArray(details.metrics))) {
    util.error('metrics must be a JSON object, e.g. {"auc": 0.93}', 'BadRequest');
  }
  const now = util.time.nowISO8601();
  const item = {
    ...details,
    tags: details.tags ?? [],
    status: 'REGISTERED',
    versionOrder: versionOrder(version),
    createdAt: now,
    updatedAt: now,
  };
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
