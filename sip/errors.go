package sip

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by Place after Close.
var ErrClosed = errors.New("sip: client closed")

// CallError is the error Place returns when a call could not be made or
// was cut short: a SIP failure response, a transport failure, no response,
// a trunk at capacity, a call without a usable codec, or the caller's
// cancellation.
type CallError struct {
	Trunk  string
	Status int    // the final SIP response status, 0 when there was none
	reason string // a stable word, e.g. "sip_503", "sip_transport"
	perm   bool
	Err    error
}

func (e *CallError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("sip %s: call failed with %d: %v", e.Trunk, e.Status, e.Err)
	}
	return fmt.Sprintf("sip %s: %s: %v", e.Trunk, e.reason, e.Err)
}

func (e *CallError) Unwrap() error { return e.Err }

// Permanent reports whether placing the same call on this trunk again
// cannot help: a 4xx or 6xx refusal (other than busy and no answer, which
// are outcomes, not errors) or the caller's cancellation. 5xx responses,
// transport failures, silence from the trunk, a trunk at capacity and an
// unusable SDP answer are not permanent: another trunk may take the call.
func (e *CallError) Permanent() bool { return e.perm }

// Reason is a stable word for the failure, for events and metrics:
// "sip_NNN" for a SIP status, else "sip_transport", "sip_no_response",
// "sip_capacity", "sip_sdp", "sip_canceled", "sip_closed" or
// "sip_bad_call".
func (e *CallError) Reason() string { return e.reason }

func statusError(trunk string, status int, phrase string) *CallError {
	perm := status >= 400 && status < 500 || status >= 600
	return &CallError{Trunk: trunk, Status: status, reason: fmt.Sprintf("sip_%d", status), perm: perm,
		Err: fmt.Errorf("%d %s", status, phrase)}
}

func callError(trunk, reason string, perm bool, err error) *CallError {
	return &CallError{Trunk: trunk, reason: reason, perm: perm, Err: err}
}
