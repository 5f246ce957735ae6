import test from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createBackendClient, PosTerminalError } from '../../src/index.js';
import { startFakeBackend, FAKE_TOKEN, FAKE_ACCOUNT } from '../support/fake-backend.js';
import { txn } from '../support/setup.js';

const client = (fake, extra = {}) => createBackendClient({
  backendUrl: fake.url, getAuthToken: () => FAKE_TOKEN, retryDelayMs: 5, ...extra,
});

test('backend errors become PosTerminalError with status, code and param', async (t) => {
  const fake = await startFakeBackend();
  t.after(() => fake.close());
  const api = client(fake);
  await assert.rejects(
    api.createIntent({ external_account_id: FAKE_ACCOUNT, amount: '12.999', external_transaction_id: txn() }),
    (e) => e instanceof PosTerminalError && e.kind === 'backend' && e.status === 400 && e.param === 'amount',
  );
  await assert.rejects(
    api.getPayment({ payment_id: 'pi_missing', external_account_id: FAKE_ACCOUNT }),
    (e) => e.kind === 'backend' && e.status === 404 && e.code === 'resource_missing' && e.paymentIntentId === 'pi_missing',
  );
  await assert.rejects(
    client(fake, { getAuthToken: () => 'wrong' }).listCards({ external_account_id: FAKE_ACCOUNT, external_customer_id: 'c' }),
    (e) => e.kind === 'backend' && e.status === 401,
  );
  await assert.rejects(
    api.listCards({ external_account_id: 'someone-else', external_customer_id: 'c' }),
    (e) => e.kind === 'backend' && e.status === 403,
  );
});

test('the same intent request is idempotent; other parameters are a 409 conflict', async (t) => {
  const fake = await startFakeBackend();
  t.after(() => fake.close());
  const api = client(fake);
  const id = txn();
  const a = await api.createIntent({ external_account_id: FAKE_ACCOUNT, amount: 12.99, external_transaction_id: id });
  const b = await api.createIntent({ external_account_id: FAKE_ACCOUNT, amount: '12.99', external_transaction_id: id });
  assert.equal(a.id, b.id);
  assert.equal(a.amount, '12.99');
  const body = fake.requests.find((r) => r.path === '/v1/payment/intent').body;
  assert.deepEqual(body, {
    external_account_id: FAKE_ACCOUNT, amount: 12.99, payment_method_types: 'card_present',
    capture_method: 'manual', external_transaction_id: id,
  });
  await assert.rejects(
    api.createIntent({ external_account_id: FAKE_ACCOUNT, amount: '13.00', external_transaction_id: id }),
    (e) => e.status === 409 && e.code === 'idempotency_conflict',
  );
});

test('502/503/504 and network errors are retried; 4xx are not', async (t) => {
  const fake = await startFakeBackend();
  t.after(() => fake.close());
  const api = client(fake, { retries: 2 });
  fake.failNext('POST /v1/payment/intent', { status: 503, times: 2 });
  const intent = await api.createIntent({ external_account_id: FAKE_ACCOUNT, amount: '1.00', external_transaction_id: txn() });
  assert.equal(intent.status, 'requires_payment_method');
  assert.equal(fake.requests.filter((r) => r.path === '/v1/payment/intent').length, 3);

  fake.failNext('GET /v1/payment/', { status: 504, times: 3 });
  await assert.rejects(api.getPayment({ payment_id: intent.id, external_account_id: FAKE_ACCOUNT }),
    (e) => e.kind === 'backend' && e.status === 504 && e.retryable);

  const before = fake.requests.length;
  await assert.rejects(api.capture({ payment_id: intent.id, external_account_id: FAKE_ACCOUNT }),
    (e) => e.status === 409 && e.code === 'payment_not_capturable');
  assert.equal(fake.requests.length, before + 1, 'a 409 is not retried');
});

test('an unreachable backend is kind network; a silent one is kind timeout', async (t) => {
  const closed = http.createServer();
  await new Promise((r) => closed.listen(0, '127.0.0.1', r));
  const { port } = closed.address();
  await new Promise((r) => closed.close(r));
  const dead = createBackendClient({ backendUrl: `http://127.0.0.1:${port}`, getAuthToken: () => 'x', retries: 0 });
  await assert.rejects(dead.getPayment({ payment_id: 'pi_1', external_account_id: 'a' }),
    (e) => e.kind === 'network' && e.retryable && e.code === 'backend_unreachable');

  const fake = await startFakeBackend();
  t.after(() => fake.close());
  fake.failNext('GET /v1/payment/', { hang: true, times: 1 });
  const slow = client(fake, { timeoutMs: 100, retries: 0 });
  await assert.rejects(slow.getPayment({ payment_id: 'pi_1', external_account_id: FAKE_ACCOUNT }),
    (e) => e.kind === 'timeout' && e.code === 'backend_timeout');
});

test('connection tokens: a fresh one on every call, and the auth token is asked for every request', async (t) => {
  const fake = await startFakeBackend();
  t.after(() => fake.close());
  let asked = 0;
  const api = client(fake, { getAuthToken: async () => { asked += 1; return FAKE_TOKEN; } });
  const secrets = [];
  for (let i = 0; i < 3; i++) secrets.push(await api.connectionToken({ external_account_id: FAKE_ACCOUNT }));
  assert.equal(new Set(secrets).size, 3);
  for (const s of secrets) assert.match(s, /^pst_test_/);
  assert.equal(fake.state.connectionTokenCalls, 3);
  assert.equal(asked, 3);
  for (const r of fake.requests) assert.equal(r.authorization, `Bearer ${FAKE_TOKEN}`);
});
