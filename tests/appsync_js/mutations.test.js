// Mutation.registerModel, updateModelStatus and deleteModel: conditional writes, so that a registration never
// overwrites, a status never skips a transition and a serving version is never deleted.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AppSyncError, CONDITION_FAILED, context, setNow } from './appsync-runtime.js';
import * as registerModel from '../../ml_infra/appsync/resolvers/Mutation.registerModel.js';
import * as updateModelStatus from '../../ml_infra/appsync/resolvers/Mutation.updateModelStatus.js';
import * as deleteModel from '../../ml_infra/appsync/resolvers/Mutation.deleteModel.js';

const STATUSES = ['REGISTERED', 'STAGING', 'PRODUCTION', 'ARCHIVED'];

// The life cycle the schema documents: for each status, the statuses it may be reached from.
const ALLOWED = {
  REGISTERED: ['STAGING'],
  STAGING: ['REGISTERED', 'ARCHIVED'],
  PRODUCTION: ['STAGING'],
  ARCHIVED: ['REGISTERED', 'STAGING', 'PRODUCTION'],
};

/**
 * The current statuses under which DynamoDB would accept a request whose condition is
 * `attribute_exists(#name) AND #status IN (:a, :b, ...)`: the values the placeholders stand for.
 */
function acceptedStatuses(condition) {
  const match = condition.expression.match(/^attribute_exists\(#name\) AND #status IN \(([^)]*)\)$/);
  assert.ok(match, `unexpected condition ${condition.expression}`);
  assert.deepEqual(condition.expressionNames, { '#name': 'name', '#status': 'status' });
  const placeholders = match[1].split(', ');
  assert.deepEqual(Object.keys(condition.expressionValues).sort(), [...placeholders].sort());
  return placeholders.map((placeholder) => condition.expressionValues[placeholder].S).sort();
}

function rejectedWith(type, messagePart) {
  return (error) => {
    assert.ok(error instanceof AppSyncError, `not an AppSync error: ${error}`);
    assert.equal(error.type, type);
    assert.ok(error.message.includes(messagePart), `"${error.message}" does not mention "${messagePart}"`);
    return true;
  };
}

describe('Mutation.registerModel', () => {
  const input = {
    name: 'fraud-detector',
    version: '2026.11.2',
    framework: 'XGBOOST',
    tags: ['cards', 'realtime'],
    metrics: { auc: 0.93, precision_at_1pct: 0.71 },
  };

  it('puts a REGISTERED item with timestamps, only if the version does not exist', () => {
    setNow('2026-11-23T08:30:00.000Z');
    const request = registerModel.request(context({ args: { input } }));
    assert.deepEqual(request, {
      operation: 'PutItem',
      key: { name: { S: 'fraud-detector' }, version: { S: '2026.11.2' } },
      attributeValues: {
        framework: { S: 'XGBOOST' },
        tags: { L: [{ S: 'cards' }, { S: 'realtime' }] },
        metrics: { M: { auc: { N: '0.93' }, precision_at_1pct: { N: '0.71' } } },
        status: { S: 'REGISTERED' },
        versionOrder: { S: '000002026.000000011.000000002' },
        createdAt: { S: '2026-11-23T08:30:00.000Z' },
        updatedAt: { S: '2026-11-23T08:30:00.000Z' },
      },
      condition: { expression: 'attribute_not_exists(#name)', expressionNames: { '#name': 'name' } },
    });
  });

  it('ignores a status in the input: every version starts REGISTERED', () => {
    const request = registerModel.request(context({ args: { input: { ...input, status: 'PRODUCTION' } } }));
    assert.deepEqual(request.attributeValues.status, { S: 'REGISTERED' });
  });

  it('stores an empty tag list when none is given', () => {
    const request = registerModel.request(context({ args: { input: { ...input, tags: undefined } } }));
    assert.deepEqual(request.attributeValues.tags, { L: [] });
  });

  it('refuses metrics that are not a JSON object', () => {
    for (const metrics of [[0.9], 'auc=0.9', 3]) {
      assert.throws(
        () => registerModel.request(context({ args: { input: { ...input, metrics } } })),
        rejectedWith('BadRequest', 'metrics must be a JSON object'),
      );
    }
  });

  it('refuses a name that is not of the documented format', () => {
    for (const name of ['', 'Fraud Model!', 'fraud_detector', '1fraud', '-fraud', 'a'.repeat(64), undefined]) {
      assert.throws(
        () => registerModel.request(context({ args: { input: { ...input, name } } })),
        rejectedWith('BadRequest', "allowed: 1-63 lower-case letters, digits and '-', starting with a letter"),
      );
    }
  });

  it('accepts names of the documented format', () => {
    for (const name of ['a', 'fraud-detector', 'm2', 'a'.repeat(63)]) {
      assert.equal(registerModel.request(context({ args: { input: { ...input, name } } })).operation, 'PutItem');
    }
  });

  it('refuses a version that is not of the documented format', () => {
    for (const version of ['', 'v1', '2026.11.2-rc1', '1.2.3.4.5', '1234567890', '2026..1', '.1', '1.', ' 1']) {
      assert.throws(
        () => registerModel.request(context({ args: { input: { ...input, version } } })),
        rejectedWith('BadRequest', "allowed: 1-4 numbers of up to 9 digits separated by '.'"),
      );
    }
  });

  it('stores a version order whose byte order (DynamoDB sorts text by bytes) is version order', () => {
    const versions = ['2026.9.1', '2026.11.2', '2026.10.0', '1', '2026.11.10', '2025.12.31', '2026.11.2.1', '10.0'];
    const stored = versions.map((version) => {
      const request = registerModel.request(context({ args: { input: { ...input, version } } }));
      return { version, order: request.attributeValues.versionOrder.S };
    });
    // What the byVersion index returns with scanIndexForward: false: descending byte order.
    const newestFirst = stored
      .sort((a, b) => (Buffer.from(b.order) < Buffer.from(a.order) ? -1 : 1))
      .map((item) => item.version);
    assert.deepEqual(newestFirst, [
      '2026.11.10',
      '2026.11.2.1',
      '2026.11.2',
      '2026.10.0',
      '2026.9.1',
      '2025.12.31',
      '10.0',
      '1',
    ]);
  });

  it('reports an existing version as such instead of overwriting it', () => {
    assert.throws(
      () => registerModel.response(context({ args: { input }, error: CONDITION_FAILED })),
      rejectedWith('ModelVersionAlreadyExists', 'fraud-detector version 2026.11.2 is already registered'),
    );
  });

  it('passes other data source errors on unchanged', () => {
    const error = { type: 'DynamoDB:ProvisionedThroughputExceededException', message: 'slow down' };
    assert.throws(() => registerModel.response(context({ args: { input }, error })), {
      type: error.type,
      message: 'slow down',
    });
  });

  it('returns the registered item', () => {
    const item = { ...input, status: 'REGISTERED' };
    assert.deepEqual(registerModel.response(context({ args: { input }, result: item })), item);
  });
});

describe('Mutation.updateModelStatus', () => {
  const update = (input) =>
    updateModelStatus.request(context({ args: { input: { name: 'fraud-detector', version: '3', ...input } } }));

  for (const target of STATUSES) {
    for (const current of STATUSES) {
      const allowed = ALLOWED[target].includes(current);
      it(`${allowed ? 'allows' : 'refuses'} ${current} -> ${target}`, () => {
        const endpointName = target === 'PRODUCTION' ? 'fraud-detector-prod' : undefined;
        const accepted = acceptedStatuses(update({ status: target, endpointName }).condition);
        assert.equal(accepted.includes(current), allowed);
      });
    }
  }

  it('sets the status and the time of the change', () => {
    setNow('2026-11-24T10:00:00.000Z');
    const request = update({ status: 'STAGING' });
    assert.equal(request.operation, 'UpdateItem');
    assert.deepEqual(request.key, { name: { S: 'fraud-detector' }, version: { S: '3' } });
    assert.deepEqual(request.update, {
      expression: 'SET #status = :status, #updatedAt = :now',
      expressionNames: { '#status': 'status', '#updatedAt': 'updatedAt' },
      expressionValues: { ':status': { S: 'STAGING' }, ':now': { S: '2026-11-24T10:00:00.000Z' } },
    });
  });

  it('records the serving endpoint on promotion', () => {
    const request = update({ status: 'PRODUCTION', endpointName: 'fraud-detector-prod' });
    assert.equal(request.update.expression, 'SET #status = :status, #updatedAt = :now, #endpointName = :endpointName');
    assert.deepEqual(request.update.expressionValues[':endpointName'], { S: 'fraud-detector-prod' });
  });

  it('refuses a promotion to PRODUCTION without an endpoint', () => {
    assert.throws(() => update({ status: 'PRODUCTION' }), rejectedWith('BadRequest', 'needs endpointName'));
  });

  it('clears the endpoint of a version that stops being served', () => {
    for (const status of ['ARCHIVED', 'REGISTERED']) {
      const request = update({ status });
      assert.equal(request.update.expression, 'SET #status = :status, #updatedAt = :now REMOVE #endpointName');
      assert.equal(request.update.expressionNames['#endpointName'], 'endpointName');
    }
    assert.throws(
      () => update({ status: 'ARCHIVED', endpointName: 'x' }),
      rejectedWith('BadRequest', 'omit endpointName'),
    );
  });

  it('names only attributes its expressions use (DynamoDB refuses unused names)', () => {
    for (const status of STATUSES) {
      const endpointName = status === 'PRODUCTION' ? 'e' : undefined;
      const { update: change, condition } = update({ status, endpointName });
      for (const part of [change, condition]) {
        for (const name of Object.keys(part.expressionNames)) assert.ok(part.expression.includes(name), name);
        for (const value of Object.keys(part.expressionValues ?? {})) assert.ok(part.expression.includes(value));
      }
    }
  });

  it('explains a refused transition with the statuses it may follow', () => {
    const input = { name: 'fraud-detector', version: '3', status: 'PRODUCTION', endpointName: 'e' };
    assert.throws(
      () => updateModelStatus.response(context({ args: { input }, error: CONDITION_FAILED })),
      rejectedWith(
        'InvalidStatusTransition',
        'fraud-detector version 3 cannot move to PRODUCTION: it is not registered, or its status is not STAGING',
      ),
    );
  });

  it('returns the updated item', () => {
    const item = { name: 'fraud-detector', version: '3', status: 'STAGING' };
    const input = { name: 'fraud-detector', version: '3', status: 'STAGING' };
    assert.deepEqual(updateModelStatus.response(context({ args: { input }, result: item })), item);
  });
});

describe('Mutation.deleteModel', () => {
  const args = { name: 'churn-predictor', version: '2026.10.0' };

  it('deletes only a version that exists and is REGISTERED or ARCHIVED', () => {
    const request = deleteModel.request(context({ args }));
    assert.equal(request.operation, 'DeleteItem');
    assert.deepEqual(request.key, { name: { S: 'churn-predictor' }, version: { S: '2026.10.0' } });
    assert.deepEqual(acceptedStatuses(request.condition), ['ARCHIVED', 'REGISTERED']);
  });

  it('explains why a serving version is not deleted', () => {
    assert.throws(
      () => deleteModel.response(context({ args, error: CONDITION_FAILED })),
      rejectedWith('ModelVersionNotDeletable', 'archive it first'),
    );
  });

  it('returns the deleted item', () => {
    const item = { ...args, status: 'ARCHIVED' };
    assert.deepEqual(deleteModel.response(context({ args, result: item })), item);
  });
});
