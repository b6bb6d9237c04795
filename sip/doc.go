// Package sip is Otpgate's SIP voice connector: it owns the calling side
// (UAC) of a voice call to a SIP trunk, signalling and media.
//
// A Client places calls on one Trunk (an address, a transport — UDP, TCP
// or TLS — digest credentials, a caller id, a cap on concurrent calls and on
// calls per second). Place sends an INVITE with an SDP offer of PCMU and
// PCMA, follows 100/180/183, answers a 401 or 407 challenge with digest
// credentials, and gives up on a ringing call after the ring timeout with a
// CANCEL. On 200 it sends the ACK, streams the call's audio (8 kHz G.711,
// µ-law or A-law as the far end chose) as RTP in 20 ms packets, then hangs
// up with a BYE. The result says how the call ended: answered, busy,
// no_answer or failed. A 5xx or a transport failure is an error whose
// Permanent() is false, so the caller may try another trunk; cancelling the
// context hangs up a ringing call (CANCEL) or one in progress (BYE).
//
// Signalling uses github.com/emiago/sipgo. Media is this package's own: a
// single pacer goroutine (pacer.go), shared by every call of every Client,
// sends the next packet of each active stream on a 20 ms grid cut into
// phase slots, and measures how late each packet leaves against its ideal
// schedule (Client.PacingStats and the otpgate_rtp_pacing_error_seconds
// histogram). Metrics per trunk are in metrics.go.
//
// The audio is the one-time code spoken: it is never logged, nor is any
// RTP payload. The sub-package uas is a SIP simulator (the called party)
// for the sandbox, tests and benchmarks; Bench runs many concurrent calls
// against one.
package sip
