// Vonage Verify v2 through the official Node SDK (@vonage/verify2 1.19.0),
// which signs a JWT with the application's private key, changing nothing
// but apiHost: request, a wrong code, the right one, next workflow, cancel.
'use strict';
const { Vonage } = require('@vonage/server-sdk');
const { base, smsCode, chatCode, rcsCode, callsTo, wrong, expect, expectThrow, run } = require('./sandbox');

run(async () => {
  const vonage = new Vonage(
    { applicationId: process.env.VONAGE_APPLICATION_ID, privateKey: process.env.VONAGE_PRIVATE_KEY },
    { apiHost: `${base}/compat/vonage` },
  );

  const r = await vonage.verify2.newRequest({ brand: 'Acme', workflow: [{ channel: 'sms', to: '14155550102' }, { channel: 'voice', to: '14155550102' }], codeLength: 6 });
  expect('newRequest: request id is a UUID', /^[0-9a-f-]{36}$/.test(r.requestId), true);
  const code = await smsCode('+14155550102');

  await expectThrow('wrong code', () => vonage.verify2.checkCode(r.requestId, wrong(code)), (e) => expect('wrong code: HTTP status', e.response.status, 400));
  expect('next_workflow: the call', await vonage.verify2.nextWorkflow(r.requestId), true);
  await callsTo('+14155550102');
  expect('next_workflow with no step left', await vonage.verify2.nextWorkflow(r.requestId), false);
  expect('right code', await vonage.verify2.checkCode(r.requestId, code), 'completed');
  // a client that lost the answer and retries gets the same yes for a minute
  expect('the right code again (a retry)', await vonage.verify2.checkCode(r.requestId, code), 'completed');
  await expectThrow('another code after the success', () => vonage.verify2.checkCode(r.requestId, wrong(code)), (e) => expect('after the success: HTTP status', e.response.status, 404));

  const r2 = await vonage.verify2.newRequest({ brand: 'Acme', workflow: [{ channel: 'sms', to: '14155550104' }] });
  await smsCode('+14155550104');
  await expectThrow('concurrent request', () => vonage.verify2.newRequest({ brand: 'Acme', workflow: [{ channel: 'sms', to: '14155550104' }] }), (e) => expect('concurrent: HTTP status', e.response.status, 409));
  expect('cancel', await vonage.verify2.cancel(r2.requestId), true);
  expect('cancel again', await vonage.verify2.cancel(r2.requestId), false);

  const r3 = await vonage.verify2.newRequest({ brand: 'Acme', workflow: [{ channel: 'whatsapp', to: '14155550105', from: '14155550000' }] });
  expect('whatsapp: completed with its code', await vonage.verify2.checkCode(r3.requestId, await chatCode('+14155550105')), 'completed');
  const r4 = await vonage.verify2.newRequest({ brand: 'Acme', workflow: [{ channel: 'rcs', to: '14155550109' }, { channel: 'sms', to: '14155550109' }] });
  expect('rcs: completed with its code', await vonage.verify2.checkCode(r4.requestId, await rcsCode('+14155550109')), 'completed');
});
