package smpp

import (
	"errors"
	"fmt"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

// Errors Send and Submit return; test them with errors.Is.
var (
	// ErrTooLong: the text needs more than MaxParts concatenated parts. It
	// comes wrapped in ErrInvalidMessage.
	ErrTooLong = errors.New("smpp: text longer than the most parts a message may have")

	// ErrTimeout: the submit_sm was written to the SMSC but no submit_sm_resp
	// came within Config.SubmitTimeout (and none either after it was sent
	// again on another bind, when there was one). The SMSC may or may not
	// have accepted it: a retry may deliver the message twice.
	ErrTimeout = errors.New("smpp: no submit_sm_resp within the submit timeout")

	// ErrClosed: Run has returned; the client sends nothing more.
	ErrClosed = errors.New("smpp: client stopped")

	// ErrInvalidMessage: the message cannot be sent as it is (empty text,
	// an originator or destination that no SMSC would take, a text too
	// long). Nothing was sent; retrying the same message cannot help.
	ErrInvalidMessage = errors.New("smpp: message cannot be sent")
)

// SMPP command_status values this package acts on. pdu.Status has the rest.
const (
	StatusOK          pdu.Status = 0x00000000 // ESME_ROK
	StatusInvMsgLen   pdu.Status = 0x00000001 // ESME_RINVMSGLEN
	StatusInvCmdLen   pdu.Status = 0x00000002 // ESME_RINVCMDLEN
	StatusInvCmdID    pdu.Status = 0x00000003 // ESME_RINVCMDID
	StatusInvBndSts   pdu.Status = 0x00000004 // ESME_RINVBNDSTS
	StatusAlyBnd      pdu.Status = 0x00000005 // ESME_RALYBND
	StatusSysErr      pdu.Status = 0x00000008 // ESME_RSYSERR
	StatusInvSrcAdr   pdu.Status = 0x0000000A // ESME_RINVSRCADR
	StatusInvDstAdr   pdu.Status = 0x0000000B // ESME_RINVDSTADR
	StatusBindFail    pdu.Status = 0x0000000D // ESME_RBINDFAIL
	StatusInvPaswd    pdu.Status = 0x0000000E // ESME_RINVPASWD
	StatusInvSysID    pdu.Status = 0x0000000F // ESME_RINVSYSID
	StatusMsgQFul     pdu.Status = 0x00000014 // ESME_RMSGQFUL
	StatusSubmitFail  pdu.Status = 0x00000045 // ESME_RSUBMITFAIL
	StatusThrottled   pdu.Status = 0x00000058 // ESME_RTHROTTLED
	StatusInvDCS      pdu.Status = 0x00000104 // ESME_RINVDCS (SMPP 5.0)
	StatusUnknownErr  pdu.Status = 0x000000FF // ESME_RUNKNOWNERR
	StatusDeliveryErr pdu.Status = 0x000000FE // ESME_RDELIVERYFAILURE
)

var statusNames = map[pdu.Status]string{
	StatusOK:          "ESME_ROK",
	StatusInvMsgLen:   "ESME_RINVMSGLEN",
	StatusInvCmdLen:   "ESME_RINVCMDLEN",
	StatusInvCmdID:    "ESME_RINVCMDID",
	StatusInvBndSts:   "ESME_RINVBNDSTS",
	StatusAlyBnd:      "ESME_RALYBND",
	0x00000006:        "ESME_RINVPRTFLG",
	0x00000007:        "ESME_RINVREGDLVFLG",
	StatusSysErr:      "ESME_RSYSERR",
	StatusInvSrcAdr:   "ESME_RINVSRCADR",
	StatusInvDstAdr:   "ESME_RINVDSTADR",
	0x0000000C:        "ESME_RINVMSGID",
	StatusBindFail:    "ESME_RBINDFAIL",
	StatusInvPaswd:    "ESME_RINVPASWD",
	StatusInvSysID:    "ESME_RINVSYSID",
	StatusMsgQFul:     "ESME_RMSGQFUL",
	0x00000015:        "ESME_RINVSERTYP",
	0x00000043:        "ESME_RINVESMCLASS",
	StatusSubmitFail:  "ESME_RSUBMITFAIL",
	0x00000048:        "ESME_RINVSRCTON",
	0x00000049:        "ESME_RINVSRCNPI",
	0x00000050:        "ESME_RINVDSTTON",
	0x00000051:        "ESME_RINVDSTNPI",
	0x00000053:        "ESME_RINVSYSTYP",
	StatusThrottled:   "ESME_RTHROTTLED",
	0x00000061:        "ESME_RINVSCHED",
	0x00000062:        "ESME_RINVEXPIRY",
	0x00000064:        "ESME_RX_T_APPN",
	0x00000065:        "ESME_RX_P_APPN",
	0x00000066:        "ESME_RX_R_APPN",
	0x000000C0:        "ESME_RINVOPTPARSTREAM",
	0x000000C1:        "ESME_ROPTPARNOTALLWD",
	0x000000C2:        "ESME_RINVPARLEN",
	0x000000C3:        "ESME_RMISSINGOPTPARAM",
	0x000000C4:        "ESME_RINVOPTPARAMVAL",
	StatusDeliveryErr: "ESME_RDELIVERYFAILURE",
	StatusUnknownErr:  "ESME_RUNKNOWNERR",
	StatusInvDCS:      "ESME_RINVDCS",
}

// StatusName returns the SMPP name of a command_status, e.g. "ESME_RTHROTTLED",
// or its hex value, e.g. "0x00000400", for vendor-specific codes.
func StatusName(s pdu.Status) string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

// StatusError is a non-zero command_status in a response from the SMSC.
type StatusError struct {
	SMSC    string     // Config.Name of the link
	Command pdu.ID     // the request that was answered, e.g. pdu.SubmitSMID
	Status  pdu.Status // the command_status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("smpp %s: %s rejected with %s (%s)", e.SMSC, CommandName(e.Command), StatusName(e.Status), e.Status.Error())
}

// Temporary reports whether the SMSC asked to try again later: throttling,
// a full queue, or a system error. A temporary rejection means the message was
// not accepted; it is safe to retry (after a back-off).
func (e *StatusError) Temporary() bool {
	switch e.Status {
	case StatusThrottled, StatusMsgQFul, StatusSysErr:
		return true
	}
	return false
}

// Permanent reports whether the SMSC refused the message itself (its
// addresses, length, coding or flags), so that sending it again to this
// SMSC cannot succeed. Other non-zero statuses (ESME_RSUBMITFAIL,
// ESME_RUNKNOWNERR, vendor codes) may be passing and are not permanent.
func (e *StatusError) Permanent() bool {
	switch e.Status {
	case StatusInvMsgLen, 0x06 /* RINVPRTFLG */, 0x07 /* RINVREGDLVFLG */, StatusInvSrcAdr, StatusInvDstAdr,
		0x43 /* RINVESMCLASS */, 0x48 /* RINVSRCTON */, 0x49 /* RINVSRCNPI */, 0x50 /* RINVDSTTON */, 0x51, /* RINVDSTNPI */
		StatusInvDCS:
		return true
	}
	return false
}

// LinkError is returned by Send and Submit when the link to the SMSC was
// lost while the submit_sm was outstanding.
//
// Sent tells whether the submit_sm had been written to the socket. When it was
// (Sent == true) the SMSC may have accepted the message and its submit_sm_resp
// was lost with the link: a retry can deliver the message twice. Send
// retries unsent messages itself on the next bound session, so callers in
// practice only see Sent == true.
type LinkError struct {
	SMSC string
	Sent bool
	Err  error
}

func (e *LinkError) Error() string {
	if e.Sent {
		return fmt.Sprintf("smpp %s: link lost after submit_sm was sent, outcome unknown (a retry may duplicate the message): %v", e.SMSC, e.Err)
	}
	return fmt.Sprintf("smpp %s: link lost before submit_sm was sent: %v", e.SMSC, e.Err)
}

func (e *LinkError) Unwrap() error { return e.Err }

// CommandName returns the SMPP name of a command_id, e.g. "submit_sm".
func CommandName(id pdu.ID) string {
	switch id {
	case pdu.GenericNACKID:
		return "generic_nack"
	case pdu.BindReceiverID:
		return "bind_receiver"
	case pdu.BindReceiverRespID:
		return "bind_receiver_resp"
	case pdu.BindTransmitterID:
		return "bind_transmitter"
	case pdu.BindTransmitterRespID:
		return "bind_transmitter_resp"
	case pdu.BindTransceiverID:
		return "bind_transceiver"
	case pdu.BindTransceiverRespID:
		return "bind_transceiver_resp"
	case pdu.QuerySMID:
		return "query_sm"
	case pdu.QuerySMRespID:
		return "query_sm_resp"
	case pdu.SubmitSMID:
		return "submit_sm"
	case pdu.SubmitSMRespID:
		return "submit_sm_resp"
	case pdu.DeliverSMID:
		return "deliver_sm"
	case pdu.DeliverSMRespID:
		return "deliver_sm_resp"
	case pdu.UnbindID:
		return "unbind"
	case pdu.UnbindRespID:
		return "unbind_resp"
	case pdu.ReplaceSMID:
		return "replace_sm"
	case pdu.ReplaceSMRespID:
		return "replace_sm_resp"
	case pdu.CancelSMID:
		return "cancel_sm"
	case pdu.CancelSMRespID:
		return "cancel_sm_resp"
	case pdu.OutbindID:
		return "outbind"
	case pdu.EnquireLinkID:
		return "enquire_link"
	case pdu.EnquireLinkRespID:
		return "enquire_link_resp"
	case pdu.SubmitMultiID:
		return "submit_multi"
	case pdu.SubmitMultiRespID:
		return "submit_multi_resp"
	case pdu.AlertNotificationID:
		return "alert_notification"
	case pdu.DataSMID:
		return "data_sm"
	case pdu.DataSMRespID:
		return "data_sm_resp"
	}
	return fmt.Sprintf("command 0x%08X", uint32(id))
}
