// Helpers the SDK scripts share: the sandbox's own endpoints (the SMS a
// number received, read with the demo key) and assertions that say what
// went wrong. Only the vendors' SDKs talk to the facades.
'use strict';

const base = process.env.BASE;
const key = process.env.KEY;

// smsCode waits for the n-th SMS (1-based) to number and returns its code;
// chatCode the same for a WhatsApp message, rcsCode for an RCS one.
async function smsCode(number, n = 1, channel = 'sms') {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${base}/v1/sandbox/messages?number=${encodeURIComponent(number)}`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    const body = await r.json();
    const msgs = (body.messages || []).filter((m) => m.channel === channel);
    if (msgs.length >= n) {
      const text = msgs[msgs.length - n].text; // newest first
      const m = text.match(/\b[0-9A-Z]{4,10}\b/g).filter((w) => /\d/.test(w));
      return m[0];
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no ${channel} message #${n} for ${number}`);
}

const chatCode = (number, n = 1) => smsCode(number, n, 'whatsapp');
const rcsCode = (number, n = 1) => smsCode(number, n, 'rcs');

// callsTo waits for n calls to number in the sandbox's SIP simulator.
async function callsTo(number, n = 1) {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${base}/v1/sandbox/calls?number=${encodeURIComponent(number)}`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    const body = await r.json();
    if (body.calls && body.calls.length >= n) return body.calls;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`no call #${n} to ${number}`);
}

function wrong(code) {
  return code.startsWith('9') ? '1'.repeat(code.length) : '9'.repeat(code.length);
}

function expect(what, got, want) {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
  console.log(`ok  ${what}`);
}

async function expectThrow(what, fn, check) {
  try {
    await fn();
  } catch (e) {
    check(e);
    console.log(`ok  ${what} (threw: ${e.message})`);
    return;
  }
  throw new Error(`${what}: did not throw`);
}

function run(main) {
  main().then(
    () => process.exit(0),
    (e) => {
      console.error(`FAIL ${e.stack || e}`);
      process.exit(1);
    },
  );
}

module.exports = { base, key, smsCode, chatCode, rcsCode, callsTo, wrong, expect, expectThrow, run };
