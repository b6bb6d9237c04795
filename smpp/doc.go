// Package smpp is Otpgate's SMPP 3.4 connector to SMSCs: it owns the ESME side
// of the wire.
//
// A Client talks to one SMSC over several binds (Config.Binds: transceiver,
// transmitter or receiver sessions, plain TCP or TLS), each with its own
// connection, reconnect loop (capped exponential back-off with jitter),
// enquire_link keep-alive (both ways), unbind (both ways) and window of
// outstanding submit_sm matched to their responses by sequence number. Send
// picks the least busy bound bind with a free slot and waits when there is
// none; token buckets cap the rate per SMSC and per bind (Config.TPS,
// BindTPS); ESME_RTHROTTLED and ESME_RMSGQFUL pause the bind and the message
// is sent again; a submit_sm left unanswered is sent once more on another
// bind. Texts go as GSM 03.38 when they can, else UCS-2 (or Latin-1, per
// SMSC), split into concatenated parts (UDH with an 8- or 16-bit reference,
// or SAR TLVs) when longer than one SMS. Delivery receipts (deliver_sm →
// Receipt) may arrive on any receiving bind; Receipt.IDCandidates bridges
// SMSCs that report ids in hex where submit_sm_resp gave decimal, or the
// reverse. Addresses get their TON/NPI from their form (address.go), and
// every bind has its metrics (metrics.go).
//
// PDUs are encoded and decoded with github.com/fiorix/go-smpp's pdu packages;
// the session, window, throttling and reconnect logic are this package's
// own. Message text is never logged: it carries the one-time code.
//
// The sub-package smsc is an SMSC simulator for the sandbox, tests and
// benchmarks.
package smpp
