// Query.getModel and Query.listModels: the DynamoDB reads they ask for and what they return.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { AppSyncError, context } from './appsync-runtime.js';
import * as getModel from '../../ml_infra/appsync/resolvers/Query.getModel.js';
import * as listModels from '../../ml_infra/appsync/resolvers/Query.listModels.js';

describe('Query.getModel', () => {
  it('reads one version by its key, consistently', () => {
    const request = getModel.request(context({ args: { name: 'fraud-detector', version: '2026.11.2' } }));
    assert.deepEqual(request, {
      operation: 'GetItem',
      key: { name: { S: 'fraud-detector' }, version: { S: '2026.11.2' } },
      consistentRead: true,
    });
  });

  it('returns null for a version that is not registered', () => {
    assert.equal(getModel.response(context({ args: { name: 'x', version: '1' }, result: null })), null);
  });

  it('returns the stored item', () => {
    const item = { name: 'x', version: '1', status: 'STAGING' };
    assert.deepEqual(getModel.response(context({ result: item })), item);
  });

  it('reports a data source error instead of returning null', () => {
    const error = { type: 'DynamoDB:AmazonDynamoDBException', message: 'throttled' };
    assert.throws(() => getModel.response(context({ error })), { message: 'throttled', type: error.type });
  });
});

describe('Query.listModels', () => {
  const list = (args) => listModels.request(context({ args }));

  it('scans one default-sized page without a filter', () => {
    assert.deepEqual(list({}), { operation: 'Scan', limit: 20 });
  });

  it('passes the limit and the next token through', () => {
    assert.deepEqual(list({ limit: 5, nextToken: 'abc' }), { operation: 'Scan', limit: 5, nextToken: 'abc' });
  });

  it('refuses a name filter that is not a model name', () => {
    for (const name of ['Fraud Model!', '', 'fraud_detector']) {
      assert.throws(
        () => list({ filter: { name } }),
        (error) => error instanceof AppSyncError && error.type === 'BadRequest' && error.message.includes('allowed'),
      );
    }
  });

  it('refuses a page size outside 1-100', () => {
    for (const limit of [0, 101]) {
      assert.throws(() => list({ limit }), (error) => error instanceof AppSyncError && error.type === 'BadRequest');
    }
  });

  it('lists the versions of one model through the byVersion index, newest version first', () => {
    assert.deepEqual(list({ filter: { name: 'fraud-detector' } }), {
      operation: 'Query',
      index: 'byVersion',
      query: {
        expression: '#name = :name',
        expressionNames: { '#name': 'name' },
        expressionValues: { ':name': { S: 'fraud-detector' } },
      },
      scanIndexForward: false,
      limit: 20,
    });
  });

  it('lists by status through the byStatus index, latest change first', () => {
    assert.deepEqual(list({ filter: { status: 'PRODUCTION' }, limit: 50 }), {
      operation: 'Query',
      index: 'byStatus',
      query: {
        expression: '#status = :status',
        expressionNames: { '#status': 'status' },
        expressionValues: { ':status': { S: 'PRODUCTION' } },
      },
      scanIndexForward: false,
      limit: 50,
    });
  });

  it('filters one model by status on its partition, not through the status index', () => {
    const request = list({ filter: { name: 'fraud-detector', status: 'STAGING' } });
    assert.equal(request.index, 'byVersion');
    assert.equal(request.query.expression, '#name = :name');
    assert.deepEqual(request.filter, {
      expression: '#status = :status',
      expressionNames: { '#status': 'status' },
      expressionValues: { ':status': { S: 'STAGING' } },
    });
  });

  it('returns the items and the next token of the page', () => {
    const items = [{ name: 'a', version: '1' }];
    assert.deepEqual(listModels.response(context({ result: { items, nextToken: 't2' } })), { items, nextToken: 't2' });
  });

  it('returns a null next token on the last page', () => {
    assert.deepEqual(listModels.response(context({ result: { items: [] } })), { items: [], nextToken: null });
  });
});
