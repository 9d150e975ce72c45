/**
 * Mutation.updateModelStatus: moves a model version along its life cycle.
 *
 * The allowed transitions, as the statuses each status may follow (the schema documents the same table):
 *   REGISTERED <- STAGING                        (validation failed: roll back)
 *   STAGING    <- REGISTERED, ARCHIVED           (deploy for validation; bring an earlier version back)
 *   PRODUCTION <- STAGING                        (promote: production is reachable only through staging)
 *   ARCHIVED   <- REGISTERED, STAGING, PRODUCTION
 * The update is conditional on the current status being one of these predecessors, evaluated by DynamoDB in
 * the same write, so two concurrent updates can never skip a step or both succeed from the same status.
 */
import { util } from '@aws-appsync/utils';

const PREDECESSORS = {
  REGISTERED: ['STAGING'],
  STAGING: ['REGISTERED', 'ARCHIVED'],
  PRODUCTION: ['STAGING'],
  ARCHIVED: ['REGISTERED', 'STAGING', 'PRODUCTION'],
};

// A version in these statuses is not served, so it has no endpoint.
const NOT_SERVED = ['REGISTERED', 'ARCHIVED'];

export function request(ctx) {
  const { name, version, status, endpointName } = ctx.args.input;
  if (status === 'PRODUCTION' && !endpointName) {
    util.error('A version promoted to PRODUCTION needs endpointName: the endpoint that serves it', 'BadRequest');
  }
  if (NOT_SERVED.includes(status) && endpointName) {
    util.error(`A ${status} version is not served: omit endpointName`, 'BadRequest');
  }

  const updateNames = { '#status': 'status', '#updatedAt': 'updatedAt' };
  const updateValues = { ':status': status, ':now': util.time.nowISO8601() };
  let expression = 'SET #status = :status, #updatedAt = :now';
  if (endpointName) {
    expression = `${expression}, #endpointName = :endpointName`;
    updateNames['#endpointName'] = 'endpointName';
    updateValues[':endpointName'] = endpointName;
  } else if (NOT_SERVED.includes(status)) {
    expression = `${expression} REMOVE #endpointName`;
    updateNames['#endpointName'] = 'endpointName';
  }

  const placeholders = [];
  const conditionValues = {};
  for (const previous of PREDECESSORS[status]) {
    const placeholder = `:from${previous}`;
    placeholders.push(placeholder);
    conditionValues[placeholder] = previous;
  }
  return {
    operation: 'UpdateItem',
    key: util.dynamodb.toMapValues({ name, version }),
    update: {
      expression,
      expressionNames: updateNames,
      expressionValues: util.dynamodb.toMapValues(updateValues),
    },
    condition: {
      expression: `attribute_exists(#name) AND #status IN (${placeholders.join(', ')})`,
      expressionNames: { '#name': 'name', '#status': 'status' },
      expressionValues: util.dynamodb.toMapValues(conditionValues),
    },
  };
}

export function response(ctx) {
  if (ctx.error) {
    if (ctx.error.type === 'DynamoDB:ConditionalCheckFailedException') {
      const { name, version, status } = ctx.args.input;
      util.error(
        `Model ${name} version ${version} cannot move to ${status}: it is not registered, or its status is not ` +
          `${PREDECESSORS[status].join(' or ')} (the only statuses ${status} may follow)`,
        'InvalidStatusTransition',
      );
    }
    util.error(ctx.error.message, ctx.error.type);
  }
  return ctx.result;
}
