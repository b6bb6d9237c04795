package smpp

import (
	"fmt"
	"net"
	"time"
)

// Config configures one SMSC link: one bind_transceiver session (several binds
// per SMSC come later). Zero values take the defaults given for each field.
type Config struct {
	// Name of the SMSC, used in logs, metric labels ({smsc="Name"}) and
	// receipts. Required; letters, digits, '_', '-' and '.' only. It must be
	// unique in the process: metrics are kept per name.
	Name string
	// Addr is the SMSC's host:port. Required.
	Addr string
	// SystemID and Password authenticate the bind. SystemID is required
	// (at most 15 characters); Password may be empty (at most 8 characters).
	SystemID string
	Password string
	// SystemType sent in the bind. Default "".
	SystemType string

	// Window is the most submit_sm outstanding (sent, not yet answered) at
	// once. Default 10.
	Window int
	// EnquireLink is the interval between enquire_link keep-alives.
	// Default 30s.
	EnquireLink time.Duration
	// EnquireLinkTimeout is how long to wait for an enquire_link_resp before
	// declaring the link dead and reconnecting. Default 10s.
	EnquireLinkTimeout time.Duration
	// SubmitTimeout is the longest wait for a submit_sm_resp once the
	// submit_sm is sent. Default 10s.
	SubmitTimeout time.Duration
	// BindTimeout bounds the TCP connect plus bind exchange, and the wait for
	// unbind_resp when stopping. Default 5s.
	BindTimeout time.Duration
	// WriteTimeout bounds one write to the socket; a write that takes longer
	// drops the link. Default 10s.
	WriteTimeout time.Duration
	// ReconnectMin is the first delay before reconnecting after a failed
	// connect or bind, or a lost link; it doubles on every consecutive failure
	// up to ReconnectMax, with ±20% jitter, and resets after a successful
	// bind. Defaults 500ms and 30s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// ReceiptQueue is how many receipts may wait for the onReceipt callback
	// before the link stops reading from the SMSC (back-pressure). Default 1024.
	ReceiptQueue int
}

// Defaults of Config.
const (
	DefaultWindow             = 10
	DefaultEnquireLink        = 30 * time.Second
	DefaultEnquireLinkTimeout = 10 * time.Second
	DefaultSubmitTimeout      = 10 * time.Second
	DefaultBindTimeout        = 5 * time.Second
	DefaultWriteTimeout       = 10 * time.Second
	DefaultReconnectMin       = 500 * time.Millisecond
	DefaultReconnectMax       = 30 * time.Second
	DefaultReceiptQueue       = 1024
)

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
	setDur(&cfg.EnquireLink, DefaultEnquireLink)
	setDur(&cfg.EnquireLinkTimeout, DefaultEnquireLinkTimeout)
	setDur(&cfg.SubmitTimeout, DefaultSubmitTimeout)
	setDur(&cfg.BindTimeout, DefaultBindTimeout)
	setDur(&cfg.WriteTimeout, DefaultWriteTimeout)
	setDur(&cfg.ReconnectMin, DefaultReconnectMin)
	setDur(&cfg.ReconnectMax, DefaultReconnectMax)
	return cfg
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
	if cfg.Window < 1 {
		return fmt.Errorf("smpp %s: Config.Window %d: must be at least 1", cfg.Name, cfg.Window)
	}
	if cfg.ReceiptQueue < 1 {
		return fmt.Errorf("smpp %s: Config.ReceiptQueue %d: must be at least 1", cfg.Name, cfg.ReceiptQueue)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
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
	return nil
}
