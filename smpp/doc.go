// Package smpp is Otpgate's SMPP 3.4 connector to SMSCs: it owns the ESME side
// of the wire — connecting and binding (bind_transceiver), keeping the link
// alive (enquire_link), reconnecting with back-off, the window of outstanding
// submit_sm matched to their responses by sequence number, delivery receipts
// (deliver_sm → Receipt), the choice between GSM 03.38 and UCS-2 for a text,
// originator and destination addressing (TON/NPI), and the connector's metrics.
//
// PDUs are encoded and decoded with github.com/fiorix/go-smpp's pdu packages;
// the session, window and reconnect logic are this package's own. Message text
// is never logged: it carries the one-time code.
//
// The sub-package smsc is an SMSC simulator for the sandbox, tests and
// benchmarks.
package smpp
