import test from 'node:test';
import assert from 'node:assert/strict';
import { fromSdkError, fromHttpError, normalizeError, PosTerminalError, ErrorKinds } from '../../src/index.js';

test('SDK error codes map to kinds', () => {
  const cases = [
    [{ code: 'canceled', message: 'The command was canceled.' }, 'cancelled'],
    [{ code: 'canceled_by_customer', message: 'x' }, 'cancelled'],
    [{ code: 'no_established_connection', message: 'x' }, 'reader_disconnected'],
    [{ code: 'reader_connection_error', message: 'x' }, 'reader_disconnected'],
    [{ code: 'network_timeout', message: 'x' }, 'timeout'],
    [{ code: 'network_error', message: 'x' }, 'network'],
    [{ code: 'internet_connection_unavailable', message: 'x' }, 'network'],
    [{ code: 'reader_error', message: 'x' }, 'terminal'],
    [{ code: 'command_already_in_progress', message: 'x' }, 'terminal'],
    [{ message: 'no code at all' }, 'terminal'],
  ];
  for (const [error, kind] of cases) {
    const e = fromSdkError(error);
    assert.ok(e instanceof PosTerminalError);
    assert.ok(e instanceof Error);
    assert.equal(e.kind, kind, `${error.code} → ${kind}`);
    assert.equal(e.code, error.code ?? null);
    assert.equal(e.message, error.message);
    assert.equal(e.raw, error);
  }
});

test('a card decline from processPayment keeps decline_code and the updated PaymentIntent', () => {
  const e = fromSdkError({
    type: 'card_error',
    code: 'card_declined',
    decline_code: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
    payment_intent: { id: 'pi_1', status: 'requires_payment_method' },
  });
  assert.equal(e.kind, ErrorKinds.DECLINED);
  assert.equal(e.declineCode, 'insufficient_funds');
  assert.equal(e.paymentIntentId, 'pi_1');
  assert.equal(e.paymentStatus, 'requires_payment_method');
  assert.equal(e.paymentIntent.id, 'pi_1');
  assert.equal(e.toJSON().kind, 'declined');
});

test('card_declined without decline_code reads as generic_decline; expired_card keeps its code', () => {
  assert.equal(fromSdkError({ code: 'card_declined', message: 'x' }).declineCode, 'generic_decline');
  const expired = fromSdkError({ code: 'expired_card', message: 'x', type: 'card_error' });
  assert.equal(expired.kind, 'declined');
  assert.equal(expired.declineCode, 'expired_card');
});

test('backend envelopes map to backend errors with status, code, param; 402 to declined', () => {
  const e400 = fromHttpError(400, { error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'bad amount', param: 'amount' } });
  assert.equal(e400.kind, 'backend');
  assert.equal(e400.status, 400);
  assert.equal(e400.code, 'parameter_invalid');
  assert.equal(e400.param, 'amount');
  assert.equal(e400.retryable, false);

  const e409 = fromHttpError(409, { error: { type: 'invalid_request_error', code: 'card_not_saveable', message: 'wallet' } }, { paymentIntentId: 'pi_9' });
  assert.equal(e409.code, 'card_not_saveable');
  assert.equal(e409.paymentIntentId, 'pi_9');

  const e402 = fromHttpError(402, { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'declined' } });
  assert.equal(e402.kind, 'declined');
  assert.equal(e402.declineCode, 'generic_decline');

  for (const status of [502, 503, 504, 429]) assert.equal(fromHttpError(status, null).retryable, true, String(status));
  const noBody = fromHttpError(500, null);
  assert.equal(noBody.kind, 'backend');
  assert.match(noBody.message, /500/);
});

test('normalizeError accepts SDK results, Errors and PosTerminalErrors', () => {
  const original = new PosTerminalError('timeout', 'slow');
  assert.equal(normalizeError(original), original);
  assert.equal(normalizeError({ error: { code: 'canceled', message: 'c' } }).kind, 'cancelled');
  const wrapped = normalizeError(new TypeError('boom'));
  assert.equal(wrapped.kind, 'terminal');
  assert.equal(wrapped.cause.message, 'boom');
});
