#!/usr/bin/env node
// An SMSC built on node-smpp (the npm package "smpp", pinned in package.json):
// an SMPP implementation that is not go-smpp, for Otpgate's interoperability
// tests (smpp/smsc/interop_integration_test.go).
//
//   node smsc.js PORT [RECEIPT_DELAY_MS]
//
// Listens on 127.0.0.1:PORT (0 picks a free port). Accepts bind_transmitter,
// bind_receiver and bind_transceiver with system_id "interop" and password
// "secret"; answers submit_sm with a message id; for every submit_sm that asks
// for a receipt (registered_delivery bit 0), sends a delivery receipt
// (deliver_sm, esm_class 0x04, receipted_message_id and message_state TLVs,
// the usual "id:... stat:DELIVRD" text) after RECEIPT_DELAY_MS (default 50)
// on a session of the same system_id that can receive: the one the message
// came in on if it is a transceiver, else a receiver or transceiver bound with
// that system_id (receipts wait for one to bind). Parts of concatenated
// messages (UDH IEI 0x00/0x08, or SAR TLVs) are answered and logged one by
// one, each with its own id and receipt.
//
// Writes one JSON object per line to stdout:
//   {"event":"listening","port":N}
//   {"event":"bind","session":N,"command":"bind_transceiver","system_id":"...","status":0}
//   {"event":"submit_sm","session":N,"id":"...","source_addr":"...","source_addr_ton":N,
//    "source_addr_npi":N,"destination_addr":"...","dest_addr_ton":N,"dest_addr_npi":N,
//    "data_coding":N,"esm_class":N,"registered_delivery":N,"short_message_hex":"...",
//    "message_payload_hex":"..."|null,"udh":{"iei":N,"ref":N,"total":N,"seq":N}|null,
//    "sar":{"msg_ref_num":N,"total_segments":N,"segment_seqnum":N}|null,"text":"..."}
//     (short_message_hex is the raw short_message, UDH included; text is
//     node-smpp's own decoding of the message without its UDH)
//   {"event":"receipt","session":N,"id":"...","stat":"DELIVRD"}
//   {"event":"receipt_ack","session":N,"id":"...","status":0}
//   {"event":"unbind","session":N} / {"event":"close","session":N}
//   {"event":"error","message":"..."}
// Logs go to stderr. Exits when stdin closes (so the process that started it
// can always stop it) and on SIGTERM or SIGINT.
'use strict';

const smpp = require('smpp');

const SYSTEM_ID = 'interop';
const PASSWORD = 'secret';

const port = Number(process.argv[2]);
const receiptDelay = process.argv[3] === undefined ? 50 : Number(process.argv[3]);
if (!Number.isInteger(port) || port < 0 || port > 65535 || !Number.isFinite(receiptDelay) || receiptDelay < 0) {
	process.stderr.write('usage: node smsc.js PORT [RECEIPT_DELAY_MS]\n');
	process.exit(2);
}

// Keep submit_sm's short_message and the message_payload TLV as raw octets:
// the tests compare bytes, and decode separately below.
delete smpp.commands.submit_sm.params.short_message.filter;
delete smpp.tlvs.message_payload.filter;

function out(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

function hex(buf) {
	return Buffer.isBuffer(buf) ? buf.toString('hex') : null;
}

// decodeText decodes a message body with node-smpp's own encodings, by
// data_coding: 0 GSM 03.38, 3 Latin-1, 8 UCS-2; anything else as hex.
function decodeText(dc, body) {
	switch (dc & 0x0F) {
	case 0x00: return smpp.encodings.ASCII.decode(body); // node-smpp's name for GSM 03.38
	case 0x01: return body.toString('latin1');
	case 0x03: return smpp.encodings.LATIN1.decode(body);
	case 0x08: return smpp.encodings.UCS2.decode(body);
	default: return body.toString('hex');
	}
}

// splitUDH returns the concatenation element of a UDH and the body after it.
function splitUDH(esm, sm) {
	if (!(esm & 0x40) || sm.length === 0 || 1 + sm[0] > sm.length) {
		return {udh: null, body: sm};
	}
	const udhl = sm[0];
	const udh = sm.subarray(1, 1 + udhl);
	let info = null;
	for (let i = 0; i + 2 <= udh.length;) {
		const iei = udh[i], len = udh[i + 1], v = udh.subarray(i + 2, i + 2 + len);
		if (v.length !== len) break;
		if (iei === 0x00 && len === 3) info = {iei: 0, ref: v[0], total: v[1], seq: v[2]};
		if (iei === 0x08 && len === 4) info = {iei: 8, ref: v.readUInt16BE(0), total: v[2], seq: v[3]};
		i += 2 + len;
	}
	return {udh: info, body: sm.subarray(1 + udhl)};
}

function stamp(d) {
	const p = (n) => String(n).padStart(2, '0');
	return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

const idBase = Math.floor(Math.random() * 0xFFFFFFF) + 0x10000000;
let idSeq = 0;
function newID() {
	idSeq++;
	return idBase.toString(16) + idSeq.toString(16).padStart(8, '0');
}

const bindCommands = {
	bind_transmitter: {tx: true, rx: false},
	bind_receiver: {tx: false, rx: true},
	bind_transceiver: {tx: true, rx: true},
};

const sessions = new Set();
const pending = []; // receipts waiting for a receiver bind
let sessionSeq = 0;

function receiverFor(origin) {
	if (origin && origin.bound && origin.bound.rx && !origin.closed) return origin;
	for (const s of sessions) {
		if (s.bound && s.bound.rx && !s.closed && s.systemID === SYSTEM_ID) return s;
	}
	return null;
}

function sendReceipt(r) {
	const s = receiverFor(r.origin);
	if (!s) {
		pending.push(r);
		return;
	}
	const text = 'id:' + r.id + ' sub:001 dlvrd:001 submit date:' + stamp(r.submitted) + ' done date:' + stamp(new Date()) +
		' stat:DELIVRD err:000 text:';
	s.deliver_sm({
		source_addr_ton: r.destTON,
		source_addr_npi: r.destNPI,
		source_addr: r.dest,
		dest_addr_ton: r.srcTON,
		dest_addr_npi: r.srcNPI,
		destination_addr: r.src,
		esm_class: 0x04,
		data_coding: 0,
		short_message: Buffer.from(text, 'ascii'),
		receipted_message_id: r.id,
		message_state: 2, // DELIVERED
	}, (resp) => {
		out({event: 'receipt_ack', session: s.num, id: r.id, status: resp.command_status});
	});
	out({event: 'receipt', session: s.num, id: r.id, stat: 'DELIVRD'});
}

function flushPending() {
	const waiting = pending.splice(0);
	for (const r of waiting) {
		r.origin = null;
		sendReceipt(r);
	}
}

const server = smpp.createServer((session) => {
	session.num = ++sessionSeq;
	session.bound = null;
	session.closed = false;
	sessions.add(session);

	session.on('error', (err) => {
		out({event: 'error', session: session.num, message: String(err && err.message || err)});
		session.destroy();
	});
	session.on('close', () => {
		session.closed = true;
		sessions.delete(session);
		out({event: 'close', session: session.num});
	});

	for (const command of Object.keys(bindCommands)) {
		session.on(command, (pdu) => {
			let status = 0;
			if (session.bound) status = smpp.ESME_RALYBND;
			else if (pdu.system_id !== SYSTEM_ID) status = smpp.ESME_RINVSYSID;
			else if (pdu.password !== PASSWORD) status = smpp.ESME_RINVPASWD;
			out({event: 'bind', session: session.num, command: command, system_id: pdu.system_id, status: status});
			if (status !== 0) {
				session.send(pdu.response({command_status: status}));
				if (!session.bound) session.close();
				return;
			}
			session.send(pdu.response({system_id: 'node-smsc'}));
			session.bound = bindCommands[command];
			session.systemID = pdu.system_id;
			if (session.bound.rx) flushPending();
		});
	}

	session.on('submit_sm', (pdu) => {
		if (!session.bound || !session.bound.tx) {
			session.send(pdu.response({command_status: smpp.ESME_RINVBNDSTS}));
			return;
		}
		const sm = Buffer.isBuffer(pdu.short_message) ? pdu.short_message : Buffer.alloc(0);
		const payload = Buffer.isBuffer(pdu.message_payload) ? pdu.message_payload : null;
		const raw = sm.length ? sm : (payload || Buffer.alloc(0));
		const {udh, body} = splitUDH(pdu.esm_class, raw);
		const sar = pdu.sar_msg_ref_num !== undefined ? {
			msg_ref_num: pdu.sar_msg_ref_num,
			total_segments: pdu.sar_total_segments,
			segment_seqnum: pdu.sar_segment_seqnum,
		} : null;
		const id = newID();
		out({
			event: 'submit_sm',
			session: session.num,
			id: id,
			source_addr: pdu.source_addr,
			source_addr_ton: pdu.source_addr_ton,
			source_addr_npi: pdu.source_addr_npi,
			destination_addr: pdu.destination_addr,
			dest_addr_ton: pdu.dest_addr_ton,
			dest_addr_npi: pdu.dest_addr_npi,
			data_coding: pdu.data_coding,
			esm_class: pdu.esm_class,
			registered_delivery: pdu.registered_delivery,
			short_message_hex: hex(sm),
			message_payload_hex: hex(payload),
			udh: udh,
			sar: sar,
			text: decodeText(pdu.data_coding, body),
		});
		session.send(pdu.response({message_id: id}));
		if (pdu.registered_delivery & 0x01) {
			const r = {
				id: id, origin: session, submitted: new Date(),
				src: pdu.source_addr, srcTON: pdu.source_addr_ton, srcNPI: pdu.source_addr_npi,
				dest: pdu.destination_addr, destTON: pdu.dest_addr_ton, destNPI: pdu.dest_addr_npi,
			};
			setTimeout(() => sendReceipt(r), receiptDelay);
		}
	});

	session.on('enquire_link', (pdu) => {
		session.send(pdu.response());
	});
	session.on('unbind', (pdu) => {
		out({event: 'unbind', session: session.num});
		session.send(pdu.response());
		session.close();
	});
	session.on('unknown', (pdu) => {
		session.send(pdu.response()); // generic_nack ESME_RINVCMDID
	});
});

server.on('error', (err) => {
	out({event: 'error', message: String(err && err.message || err)});
	process.exit(1);
});

let stopping = false;
function stop(why) {
	if (stopping) return;
	stopping = true;
	process.stderr.write('node smsc stopping: ' + why + '\n');
	server.close();
	for (const s of sessions) s.destroy();
	// Let stdout drain, and never hang: exit shortly whatever happens.
	setTimeout(() => process.exit(0), 100).unref();
	process.stdout.write('', () => process.exit(0));
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.stdin.on('end', () => stop('stdin closed'));
process.stdin.on('close', () => stop('stdin closed'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();

server.listen(port, '127.0.0.1', () => {
	out({event: 'listening', port: server.address().port});
});
