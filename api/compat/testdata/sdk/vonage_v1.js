// Vonage Verify v1 through the official Node SDK (@vonage/server-sdk 3.27.0
// with @vonage/verify 1.20.0), changing nothing but apiHost: request, a
// wrong code, the right one, search, cancel; and workflow 1 with an SMS
// that is not delivered, where the call follows.
'use strict';
const { Vonage } = require('@vonage/server-sdk');
const { base, key, smsCode, callsTo, wrong, expect, run } = require('./sandbox');

run(async () => {
  const vonage = new Vonage({ apiKey: 'demo', apiSecret: key }, { apiHost: `${base}/compat/vonage` });

  const r = await vonage.verify.start({ number: '14155550101', brand: 'Acme', codeLength: 6, workflowId: '6' });
  expect('start: status', r.status, '0');
  expect('start: request id is 32 hex digits', /^[0-9a-f]{32}$/.test(r.requestId), true);
  const code = await smsCode('+14155550101');

  const bad = await vonage.verify.check(r.requestId, wrong(code));
  expect('wrong code: status', bad.status, '16');
  const good = await vonage.verify.check(r.requestId, code);
  expect('right code: status', good.status, '0');
  expect('right code: price', good.price, '0.00000000');

  const s = await vonage.verify.search(r.requestId);
  expect('search: status', s.status, 'SUCCESS');
  expect('search: checks', s.checks.map((c) => c.status), ['INVALID', 'VALID']);
  expect('search: no code a user typed', s.checks.map((c) => c.code), ['', '']);
  expect('search: events', s.events.map((e) => e.type), ['sms']);

  const again = await vonage.verify.start({ number: '14155550101', brand: 'Acme' });
  expect('a new request after the success', again.status, '0');
  const busy = await vonage.verify.start({ number: '14155550101', brand: 'Acme' });
  expect('concurrent: status', busy.status, '10');
  expect('concurrent: names the request in flight', busy.requestId, again.requestId);
  const early = await vonage.verify.cancel(again.requestId);
  expect('cancel in the first 30 s: status', early.status, '19');
  const next = await vonage.verify.trigger(again.requestId);
  expect('trigger_next_event: status', next.status, '0');

  // workflow 1, the SMS undelivered (a sandbox rule): the call follows at once
  const w1 = await vonage.verify.start({ number: '447912345678', brand: 'Acme', workflowId: '1' });
  expect('workflow 1: status', w1.status, '0');
  await smsCode('+447912345678');
  await callsTo('+447912345678');
  let events;
  for (let i = 0; i < 100; i++) {
    events = (await vonage.verify.search(w1.requestId)).events.map((e) => e.type);
    if (events.length === 2) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  expect('workflow 1: search shows the SMS and the call', events, ['sms', 'tts']);
  const viaCall = await vonage.verify.check(w1.requestId, await smsCode('+447912345678'));
  expect('workflow 1: the code checks', viaCall.status, '0');

  const badKey = new Vonage({ apiKey: 'demo', apiSecret: 'wrong' }, { apiHost: `${base}/compat/vonage` });
  expect('bad credentials: status', (await badKey.verify.start({ number: '14155550109', brand: 'Acme' })).status, '4');
});
