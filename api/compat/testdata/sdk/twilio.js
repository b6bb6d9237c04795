// Twilio Verify v2 through the official Node SDK (twilio 6.3.1), changing
// nothing but client.verify.baseUrl: create, a wrong code, the right one,
// fetch, resend, cancel, and the errors it surfaces.
'use strict';
const twilio = require('twilio');
const { base, key, smsCode, chatCode, wrong, expect, expectThrow, run } = require('./sandbox');

run(async () => {
  const client = twilio('ACdemo', key);
  client.verify.baseUrl = `${base}/compat/twilio`;
  const svc = client.verify.v2.services('VAdemo');

  const v = await svc.verifications.create({ to: '+14155550103', channel: 'sms' });
  expect('create: status', v.status, 'pending');
  expect('create: sid', /^VE[0-9a-f]{32}$/.test(v.sid), true);
  expect('create: one send attempt', v.sendCodeAttempts.length, 1);
  const code = await smsCode('+14155550103');

  const again = await svc.verifications.create({ to: '+14155550103', channel: 'sms' });
  expect('create again resends: the same sid', again.sid, v.sid);
  expect('create again resends: two send attempts', again.sendCodeAttempts.length, 2);
  expect('create again resends: the same code', await smsCode('+14155550103', 2), code);

  const fetched = await svc.verifications(v.sid).fetch();
  expect('fetch: status', fetched.status, 'pending');
  expect('fetch: dateCreated is a date', fetched.dateCreated instanceof Date, true);

  const bad = await svc.verificationChecks.create({ to: '+14155550103', code: wrong(code) });
  expect('wrong code: status', bad.status, 'pending');
  expect('wrong code: valid', bad.valid, false);
  const good = await svc.verificationChecks.create({ verificationSid: v.sid, code });
  expect('right code: status', good.status, 'approved');
  expect('right code: valid', good.valid, true);

  await expectThrow('fetch after approval', () => svc.verifications(v.sid).fetch(), (e) => {
    expect('fetch after approval: status', e.status, 404);
    expect('fetch after approval: code', e.code, 20404);
  });

  const wa = await svc.verifications.create({ to: '+14155550110', channel: 'whatsapp' });
  expect('whatsapp: channel', wa.channel, 'whatsapp');
  const waCheck = await svc.verificationChecks.create({ to: '+14155550110', code: await chatCode('+14155550110') });
  expect('whatsapp: approved', waCheck.status, 'approved');

  const v2 = await svc.verifications.create({ to: '+14155550106', channel: 'call' });
  expect('call: channel', v2.channel, 'call');
  const canceled = await svc.verifications(v2.sid).update({ status: 'canceled' });
  expect('cancel: status', canceled.status, 'canceled');

  await expectThrow('bad To', () => svc.verifications.create({ to: '+1415', channel: 'sms' }), (e) => {
    expect('bad To: code', e.code, 60200);
    expect('bad To: more_info', e.moreInfo, 'https://www.twilio.com/docs/errors/60200');
  });
  await expectThrow('custom code not enabled', () => svc.verifications.create({ to: '+14155550107', channel: 'sms', customCode: '4711' }), (e) => expect('custom code: code', e.code, 60204));

  const bad2 = twilio('ACdemo', 'wrong');
  bad2.verify.baseUrl = `${base}/compat/twilio`;
  await expectThrow('bad credentials', () => bad2.verify.v2.services('VAdemo').verifications.create({ to: '+14155550108', channel: 'sms' }), (e) => expect('bad credentials: code', e.code, 20003));
});
