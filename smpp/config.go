package smpp

import (
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// Config configures the link to one SMSC: one Client, one or more binds
// (sessions), each with its own connection, window and reconnect loop. Zero
// values take the defaults given for each field.
type Config struct {
	// Name of the SMSC, used in logs, metric labels ({smsc="Name"}) and
	// receipts. Required; letters, digits, '_', '-' and '.' only. It must be
	// unique in the process: metrics are kept per name.
	Name string
	// Addr is the SMSC's host:port. Required.
	Addr string
	// TLS, when not nil, wraps every bind's connection in TLS with this
	// configuration (cloned; ServerName defaults to Addr's host). Default nil:
	// plain TCP. TLS costs a handshake per (re)connect and some CPU per PDU;
	// use it whenever the link leaves a trusted network — the PDUs carry the
	// codes and the bind password in clear otherwise.
	TLS *tls.Config
	// SystemID and Password authenticate every bind. SystemID is required
	// (at most 15 characters); Password may be empty (at most 8 characters).
	SystemID string
	Password string
	// SystemType sent in the bind (at most 12 characters). Default "": most
	// SMSCs ignore it; some route or bill by it.
	SystemType string
	// InterfaceVersion sent in the bind: 0x33 (SMPP 3.3), 0x34 (3.4) or 0x50
	// (5.0). Default 0x34. Otpgate speaks 3.4 whatever is announced; 0x50
	// only makes an SMSC that insists on it accept the bind, and 0x33 makes
	// some SMSCs drop TLVs (receipted_message_id, SAR) from what they send.
	InterfaceVersion byte
	// AddrTON, AddrNPI and AddressRange are the bind's addr_ton, addr_npi and
	// address_range: which mobile-originated messages a receiving bind asks
	// for (AddressRange at most 40 characters). Default 0, 0, "": let the
	// SMSC decide, which is what an OTP gateway (that drops MO messages)
	// wants.
	AddrTON, AddrNPI byte
	AddressRange     string

	// Binds lists the sessions to open, by kind and count: "transceiver"
	// (sends submit_sm and receives receipts), "transmitter" (sends only) or
	// "receiver" (receives receipts only); Kind "" means transceiver and
	// Count 0 means 1. Default: one transceiver. More binds multiply
	// throughput (each has its own Window) and keep the SMSC reachable while
	// one connection reconnects; SMSCs usually cap binds per account. At least
	// one bind must transmit. With transmitters only, no receipt ever arrives
	// (the SMSC has nowhere to send it).
	Binds []BindSpec

	// Window is the most submit_sm outstanding (sent, not yet answered) at
	// once on each bind, so the client has up to Window × transmitting binds
	// in flight. Default 10. Throughput per bind is at most Window divided by
	// the SMSC's response latency; a window larger than the SMSC's own makes
	// it throttle (ESME_RTHROTTLED) or queue.
	Window int
	// TPS caps submit_sm per second over all binds of this SMSC (a token
	// bucket, bursts of at most max(1, TPS/20)). Default 0: no cap. Set it to
	// the rate in the SMSC contract: going over it only earns ESME_RTHROTTLED
	// answers and pauses, which cost more latency than waiting here.
	TPS float64
	// BindTPS caps submit_sm per second on each bind, the same way. Default
	// 0: no cap. For SMSCs that limit per connection rather than per account.
	BindTPS float64
	// ThrottleMin and ThrottleMax bound the pause of a bind after the SMSC
	// answered ESME_RTHROTTLED or ESME_RMSGQFUL: the first pause is
	// ThrottleMin, each further one (throttled again right after a pause)
	// doubles, up to ThrottleMax; an accepted submit_sm resets it. The
	// refused message is sent again (on any bind) until its context ends.
	// Defaults 100ms and 5s. Shorter pauses recover throughput sooner but
	// hammer an overloaded SMSC.
	ThrottleMin time.Duration
	ThrottleMax time.Duration

	// Concat is how texts longer than one SMS are split into a concatenated
	// message: "udh8" (a user data header with an 8-bit reference, IEI 0x00;
	// parts of 153 GSM septets, 67 UCS-2 units or 134 Latin-1 octets),
	// "udh16" (16-bit reference, IEI 0x08; 152, 66 or 133) or "sar" (the
	// sar_msg_ref_num, sar_total_segments and sar_segment_seqnum TLVs, the
	// SMSC building the header; parts sized as with udh16 so its header
	// fits). Default "udh8", which every handset and SMSC understands; udh16
	// lowers the chance that two long messages to one handset share a
	// reference; sar suits SMSCs that reject UDH in short_message.
	Concat string
	// Latin1, when true, sends a text that is not GSM 03.38 but fits
	// ISO-8859-1 as data_coding 0x03 (140 characters per SMS) instead of
	// UCS-2 (70). Default false: many SMSCs and handsets mangle 0x03, while
	// UCS-2 arrives intact everywhere. Turn it on only for an SMSC known to
	// handle Latin-1.
	Latin1 bool
	// ReceiptIDs says how this SMSC writes message ids in receipts compared
	// with submit_sm_resp, for Receipt.IDCandidates: "auto" (detect: offer
	// the decimal↔hex conversions of any id that parses as a number), "same"
	// (ids match as received), "hex" (receipts carry hex, offer its decimal
	// form) or "decimal" (receipts carry decimal, offer its hex forms).
	// Default "auto"; "same" avoids the (harmless but useless) extra lookups.
	ReceiptIDs string

	// EnquireLink is the interval between enquire_link keep-alives on each
	// bind. Default 30s. Shorter detects a dead link sooner, at a PDU per
	// interval per bind; NAT and firewalls often drop idle TCP after minutes.
	EnquireLink time.Duration
	// EnquireLinkTimeout is how long to wait for an enquire_link_resp before
	// declaring the link dead and reconnecting. Default 10s. Shorter drops a
	// link that is merely slow; longer leaves submits waiting on a dead one.
	EnquireLinkTimeout time.Duration
	// SubmitTimeout is the longest wait for a submit_sm_resp once the
	// submit_sm is sent. Then the outcome is unknown: the message is sent
	// once more on another bound bind if there is one (it may then arrive
	// twice), else Submit fails with ErrTimeout. Default 10s. Too short turns
	// a slow SMSC into duplicates; too long holds window slots and the caller.
	SubmitTimeout time.Duration
	// BindTimeout bounds the connect (and TLS handshake) plus bind exchange,
	// and the wait for unbind_resp when stopping. Default 5s. It is also the
	// longest a shutdown waits on an SMSC that does not answer unbind.
	BindTimeout time.Duration
	// WriteTimeout bounds one write to the socket; a write that takes longer
	// drops the link. Default 10s. It only fires when the SMSC stops reading
	// (its window and the TCP buffers are full); shorter frees the bind's
	// submits sooner, at the risk of dropping a link that was only congested.
	WriteTimeout time.Duration
	// ReconnectMin is the first delay before reconnecting a bind after a
	// failed connect or bind, or a lost link; it doubles on every consecutive
	// failure up to ReconnectMax, with ±20% jitter, and resets after a
	// successful bind. Defaults 500ms and 30s. Each bind reconnects on its
	// own, so several binds do not reconnect in lockstep.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// ReceiptQueue is how many receipts (from all binds) may wait for the
	// onReceipt callback before the binds stop reading from the SMSC
	// (back-pressure). Default 1024. Larger rides out a slow onReceipt; while
	// a bind stops reading, its submit_sm_resp wait too.
	ReceiptQueue int
	// ReceiptWorkers is how many goroutines call onReceipt. A receipt's
	// message id always goes to the same one, so the receipts of one
	// message are applied in the order they came. More workers keep the
	// binds reading while onReceipt waits on the store; receipts of
	// different messages may then be applied in another order than they
	// arrived. Default 8.
	ReceiptWorkers int
}

// BindSpec asks for Count binds of one Kind.
type BindSpec struct {
	// Kind is BindTransceiver (also ""), BindTransmitter or BindReceiver.
	Kind string
	// Count of binds of this kind; 0 means 1.
	Count int
}

// Bind kinds of BindSpec.Kind and BindState.Kind.
const (
	BindTransceiver = "transceiver"
	BindTransmitter = "transmitter"
	BindReceiver    = "receiver"
)

// Concatenation methods of Config.Concat.
const (
	ConcatUDH8  = "udh8"
	ConcatUDH16 = "udh16"
	ConcatSAR   = "sar"
)

// Receipt id formats of Config.ReceiptIDs.
const (
	ReceiptIDsAuto    = "auto"
	ReceiptIDsSame    = "same"
	ReceiptIDsHex     = "hex"
	ReceiptIDsDecimal = "decimal"
)

// Defaults of Config.
const (
	DefaultWindow             = 10
	DefaultInterfaceVersion   = 0x34
	DefaultThrottleMin        = 100 * time.Millisecond
	DefaultThrottleMax        = 5 * time.Second
	DefaultConcat             = ConcatUDH8
	DefaultReceiptIDs         = ReceiptIDsAuto
	DefaultEnquireLink        = 30 * time.Second
	DefaultEnquireLinkTimeout = 10 * time.Second
	DefaultSubmitTimeout      = 10 * time.Second
	DefaultBindTimeout        = 5 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultReconnectMin       = 500 * time.Millisecond
	DefaultReconnectMax       = 30 * time.Second
	DefaultReceiptQueue       = 1024
	DefaultReceiptWorkers     = 8
)

// MaxBinds is the most binds one Client opens.
const MaxBinds = 64

// withDefaults returns cfg with zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.ReceiptQueue == 0 {
		cfg.ReceiptQueue = DefaultReceiptQueue
	}
	if cfg.ReceiptWorkers == 0 {
		cfg.ReceiptWorkers = DefaultReceiptWorkers
	}
	if cfg.InterfaceVersion == 0 {
		cfg.InterfaceVersion = DefaultInterfaceVersion
	}
	if cfg.Concat == "" {
		cfg.Concat = DefaultConcat
	}
	if cfg.ReceiptIDs == "" {
		cfg.ReceiptIDs = DefaultReceiptIDs
	}
	if len(cfg.Binds) == 0 {
		cfg.Binds = []BindSpec{{Kind: BindTransceiver, Count: 1}}
	} else {
		binds := make([]BindSpec, len(cfg.Binds))
		for i, b := range cfg.Binds {
			if b.Kind == "" {
				b.Kind = BindTransceiver
			}
			if b.Count == 0 {
				b.Count = 1
			}
			binds[i] = b
		}
		cfg.Binds = binds
	}
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone()
	}
	setDur(&cfg.ThrottleMin, DefaultThrottleMin)
	setDur(&cfg.ThrottleMax, DefaultThrottleMax)
	setDur(&cfg.EnquireLink, DefaultEnquireLink)
	setDur(&cfg.EnquireLinkTimeout, DefaultEnquireLinkTimeout)
	setDur(&cfg.SubmitTimeout, DefaultSubmitTimeout)
	setDur(&cfg.BindTimeout, DefaultBindTimeout)
	setDur(&cfg.WriteTimeout, DefaultWriteTimeout)
	setDur(&cfg.ReconnectMin, DefaultReconnectMin)
	setDur(&cfg.ReconnectMax, DefaultReconnectMax)
	return cfg
}

// bindKinds lists one kind per bind, in index order.
func (cfg Config) bindKinds() []string {
	var kinds []string
	for _, b := range cfg.Binds {
		for i := 0; i < b.Count; i++ {
			kinds = append(kinds, b.Kind)
		}
	}
	return kinds
}

// validate checks a Config that has its defaults applied.
func (cfg Config) validate() error {
	if cfg.Name == "" {
		return fmt.Errorf("smpp: Config.Name is empty")
	}
	for _, c := range cfg.Name {
		ok := c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return fmt.Errorf("smpp: Config.Name %q: only letters, digits, '_', '-' and '.' are allowed", cfg.Name)
		}
	}
	if cfg.Addr == "" {
		return fmt.Errorf("smpp %s: Config.Addr is empty, want host:port", cfg.Name)
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return fmt.Errorf("smpp %s: Config.Addr %q is not host:port: %v", cfg.Name, cfg.Addr, err)
	}
	if cfg.SystemID == "" {
		return fmt.Errorf("smpp %s: Config.SystemID is empty", cfg.Name)
	}
	if len(cfg.SystemID) > 15 {
		return fmt.Errorf("smpp %s: Config.SystemID %q is %d characters, SMPP allows 15", cfg.Name, cfg.SystemID, len(cfg.SystemID))
	}
	if len(cfg.Password) > 8 {
		return fmt.Errorf("smpp %s: Config.Password is %d characters, SMPP allows 8", cfg.Name, len(cfg.Password))
	}
	if len(cfg.SystemType) > 12 {
		return fmt.Errorf("smpp %s: Config.SystemType %q is %d characters, SMPP allows 12", cfg.Name, cfg.SystemType, len(cfg.SystemType))
	}
	switch cfg.InterfaceVersion {
	case 0x33, 0x34, 0x50:
	default:
		return fmt.Errorf("smpp %s: Config.InterfaceVersion 0x%02X: want 0x33, 0x34 or 0x50", cfg.Name, cfg.InterfaceVersion)
	}
	if len(cfg.AddressRange) > 40 {
		return fmt.Errorf("smpp %s: Config.AddressRange is %d characters, SMPP allows 40", cfg.Name, len(cfg.AddressRange))
	}
	total, transmit := 0, 0
	for i, b := range cfg.Binds {
		switch b.Kind {
		case BindTransceiver, BindTransmitter:
			if b.Count > 0 {
				transmit += b.Count
			}
		case BindReceiver:
		default:
			return fmt.Errorf("smpp %s: Config.Binds[%d].Kind %q: want %q, %q or %q", cfg.Name, i, b.Kind, BindTransceiver, BindTransmitter, BindReceiver)
		}
		if b.Count < 0 {
			return fmt.Errorf("smpp %s: Config.Binds[%d].Count %d: must not be negative", cfg.Name, i, b.Count)
		}
		total += b.Count
	}
	if total > MaxBinds {
		return fmt.Errorf("smpp %s: Config.Binds asks for %d binds, at most %d are allowed", cfg.Name, total, MaxBinds)
	}
	if transmit == 0 {
		return fmt.Errorf("smpp %s: Config.Binds has no transceiver or transmitter: nothing could be sent", cfg.Name)
	}
	if cfg.Window < 1 {
		return fmt.Errorf("smpp %s: Config.Window %d: must be at least 1", cfg.Name, cfg.Window)
	}
	if cfg.TPS < 0 || cfg.BindTPS < 0 {
		return fmt.Errorf("smpp %s: Config.TPS %v / BindTPS %v: must not be negative", cfg.Name, cfg.TPS, cfg.BindTPS)
	}
	switch cfg.Concat {
	case ConcatUDH8, ConcatUDH16, ConcatSAR:
	default:
		return fmt.Errorf("smpp %s: Config.Concat %q: want %q, %q or %q", cfg.Name, cfg.Concat, ConcatUDH8, ConcatUDH16, ConcatSAR)
	}
	switch cfg.ReceiptIDs {
	case ReceiptIDsAuto, ReceiptIDsSame, ReceiptIDsHex, ReceiptIDsDecimal:
	default:
		return fmt.Errorf("smpp %s: Config.ReceiptIDs %q: want %q, %q, %q or %q", cfg.Name, cfg.ReceiptIDs, ReceiptIDsAuto, ReceiptIDsSame, ReceiptIDsHex, ReceiptIDsDecimal)
	}
	if cfg.ReceiptWorkers < 1 || cfg.ReceiptWorkers > 1024 {
		return fmt.Errorf("smpp %s: Config.ReceiptWorkers %d: must be 1..1024", cfg.Name, cfg.ReceiptWorkers)
	}
	if cfg.ReceiptQueue < 1 {
		return fmt.Errorf("smpp %s: Config.ReceiptQueue %d: must be at least 1", cfg.Name, cfg.ReceiptQueue)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ThrottleMin", cfg.ThrottleMin},
		{"ThrottleMax", cfg.ThrottleMax},
		{"EnquireLink", cfg.EnquireLink},
		{"EnquireLinkTimeout", cfg.EnquireLinkTimeout},
		{"SubmitTimeout", cfg.SubmitTimeout},
		{"BindTimeout", cfg.BindTimeout},
		{"WriteTimeout", cfg.WriteTimeout},
		{"ReconnectMin", cfg.ReconnectMin},
		{"ReconnectMax", cfg.ReconnectMax},
	} {
		if d.v < 0 {
			return fmt.Errorf("smpp %s: Config.%s %v: must not be negative", cfg.Name, d.name, d.v)
		}
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		return fmt.Errorf("smpp %s: Config.ReconnectMax %v is below ReconnectMin %v", cfg.Name, cfg.ReconnectMax, cfg.ReconnectMin)
	}
	if cfg.ThrottleMax < cfg.ThrottleMin {
		return fmt.Errorf("smpp %s: Config.ThrottleMax %v is below ThrottleMin %v", cfg.Name, cfg.ThrottleMax, cfg.ThrottleMin)
	}
	return nil
}
