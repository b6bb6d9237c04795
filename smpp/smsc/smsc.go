// Package smsc is an SMSC simulator that speaks SMPP 3.4 over TCP, for
// Otpgate's sandbox, tests and benchmarks. It owns the SMSC side of the wire:
// it accepts bind_transmitter, bind_receiver and bind_transceiver (checking
// system_id and password), answers submit_sm with unique message ids, decodes
// the text (GSM 03.38, UCS-2, Latin-1) into an in-memory inbox that the
// sandbox reads, joins the parts of concatenated messages (UDH with 8- or
// 16-bit references, or SAR TLVs), and sends delivery receipts as deliver_sm
// (text and TLVs) after a configurable delay. It also answers enquire_link
// and unbind, generic_nacks what it does not support, and survives garbage.
//
// Every way a real SMSC misbehaves that a connector must survive is a knob of
// Config (and a flag, see Config.RegisterFlags): response latency with jitter
// (answers out of order) behind a per-session window, a TPS limit past which
// submits are answered ESME_RTHROTTLED, dropped connections, submits that are
// never answered, errors and receipt outcomes chosen by destination prefix,
// message ids in hex or decimal (and receipts that report them in the other
// base), and one failing part in every multipart message.
//
// The inbox holds the messages in clear, codes included: it exists for the
// sandbox only.
package smsc

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/otpgate/otpgate/internal/tokenbucket"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

// Config configures the simulator. Zero values take the defaults given.
type Config struct {
	// SystemID and Password are checked on every bind: a wrong system_id is
	// answered with ESME_RINVSYSID, a wrong password with ESME_RINVPASWD.
	// Defaults "otpgate" and "secret".
	SystemID, Password string

	// ReceiptDelay is the delay between accepting a submit_sm and sending its
	// delivery receipt. Default 200ms; negative disables receipts.
	ReceiptDelay time.Duration
	// UndeliveredShare is the share (0..1) of receipts that report
	// stat:UNDELIV (err:001) instead of DELIVRD, for destinations no Rule
	// gives a receipt outcome. Default 0.
	UndeliveredShare float64
	// UndeliveredPart, when > 0, makes that part (1-based) of every
	// multipart message get an UNDELIV receipt, whatever the rules and
	// UndeliveredShare say; the other parts keep their outcome. Default 0:
	// off.
	UndeliveredPart int

	// SubmitDelay delays every submit_sm_resp (accepted or not), to simulate
	// a slow SMSC. Default 0: answer at once.
	SubmitDelay time.Duration
	// SubmitJitter adds a random extra delay in [0, SubmitJitter) to each
	// submit_sm_resp, so responses leave out of order. Default 0.
	SubmitJitter time.Duration
	// Window is the most submit_sm one session has in progress (received, not
	// yet answered). At the limit the session stops reading from the socket
	// until a response is written and frees a slot — as a real SMSC's window
	// does; it never rejects for it. It only matters with SubmitDelay or
	// SubmitJitter. Default 0: no limit.
	Window int

	// TPS limits the submit_sm the simulator accepts per second, over all its
	// sessions, with a token bucket that holds a tenth of a second's worth
	// (at least 1). A submit past it is answered ESME_RTHROTTLED (0x58) and
	// neither stored nor receipted. Default 0: no limit.
	TPS float64

	// DropEvery, when > 0, makes every DropEvery-th submit_sm the simulator
	// receives (counted over all sessions) close the connection it came in
	// on at once: that submit_sm is neither answered nor stored, and the
	// responses still pending on that session are lost. Default 0: never.
	DropEvery int
	// DropAfter, when > 0, closes every session that long after its bind.
	// Default 0: never.
	DropAfter time.Duration

	// NoResponse leaves every submit_sm unanswered (and neither stored nor
	// receipted), to test response timeouts; the session keeps answering
	// enquire_link. A Rule can do the same for some destinations.
	// Default false.
	NoResponse bool

	// Rules choose the outcome of a submit_sm by the prefix of its
	// destination (E.164 with '+'); the longest matching prefix wins. See
	// Rule and ParseRule. Default none.
	Rules []Rule

	// IDFormat is how submit_sm_resp writes message ids: "hex" (16 lowercase
	// hex digits) or "decimal" (the same 64-bit number in decimal, 19
	// digits). Default "hex".
	IDFormat string
	// ReceiptIDFormat is how receipts (the text's id: and the
	// receipted_message_id TLV) write the id: "same" as submit_sm_resp,
	// "hex" or "decimal" — so an SMSC that answers in hex and reports
	// receipts in decimal (or the reverse) can be simulated. Default "same".
	ReceiptIDFormat string

	// SubmitStatus, when set, is asked for every submit_sm that no Rule
	// rejected, before it is accepted (Message.ID is still empty); a non-zero
	// status rejects it with that command_status (e.g. 0x58 ESME_RTHROTTLED).
	// Default nil: accept all. It must be cheap and safe for concurrent use.
	SubmitStatus func(Message) pdu.Status
	// InboxSize is how many messages the inbox keeps (oldest dropped first);
	// the raw parts of multipart messages are kept, as many again, apart.
	// Default 10000.
	InboxSize int
	// ReceiptQueue bounds the receipts waiting to be written on one session;
	// when it is full (a slow client), further receipts for it are dropped and
	// counted. Default 4096.
	ReceiptQueue int
	// OnMessage, when set, is called with every message the inbox gets: each
	// single-part message when it is accepted, and each multipart message
	// once, when its last part is (never with the raw parts). It is called
	// after the message is stored and before submit_sm_resp is sent, on the
	// session's reader goroutine: it must be cheap and must not block.
	OnMessage func(Message)
	// OnReceiptAcked, when set, is called when a client acknowledges a
	// delivery receipt (deliver_sm_resp with status 0), with the message
	// the receipt was for, when the deliver_sm was written and when its
	// response came. A client that acknowledges after storing the receipt
	// (Otpgate does) shows here how long that took. On the session's
	// reader goroutine: it must be cheap and must not block.
	OnReceiptAcked func(m Message, sent, acked time.Time)
	// OnSubmitAnswered, when set, is called with the message of each
	// accepted submit_sm right after its submit_sm_resp has been written to
	// the socket (written at once rather than with the reader's next
	// flush). Tests use it to act at that exact moment, such as killing the
	// client between the SMSC's acknowledgement and the client's record
	// of it. On the session's goroutine: it must not block for long.
	OnSubmitAnswered func(Message)
	// Log receives the simulator's logs. Default: discarded. Message text is
	// never logged.
	Log *slog.Logger
}

// Defaults of Config.
const (
	DefaultSystemID        = "otpgate"
	DefaultPassword        = "secret"
	DefaultReceiptDelay    = 200 * time.Millisecond
	DefaultInboxSize       = 10000
	DefaultReceiptQueue    = 4096
	DefaultIDFormat        = IDHex
	DefaultReceiptIDFormat = IDSame
)

// Values of Config.IDFormat and Config.ReceiptIDFormat.
const (
	IDHex     = "hex"
	IDDecimal = "decimal"
	IDSame    = "same" // ReceiptIDFormat only
)

// Message is a short message the simulator accepted: a single-part message
// or a multipart message joined from its parts (Server.Messages), or one raw
// part of a multipart message (Server.Parts).
type Message struct {
	ID         string // the message id given in submit_sm_resp; of a joined message, its first part's
	ReceiptID  string // the id as receipts report it (see Config.ReceiptIDFormat)
	From       string // source_addr; '+'-prefixed when TON is international
	To         string // destination in E.164 with '+'
	Text       string // decoded to UTF-8 (hex for binary data codings); of a joined message, all parts' text
	Encoding   string // "gsm7", "ucs2", "latin1", "ascii" or "binary"
	DataCoding byte   // data_coding as received
	ReceivedAt time.Time

	// Parts is how many SMS the message came in: 1 for a single message, the
	// number of parts for a joined one, and for a raw part the total its
	// header announced. PartIDs are the message ids of those parts in part
	// order (just ID for a single message or a raw part).
	Parts   int
	PartIDs []string
	// Part is a raw part's number (1-based); 0 for a single or joined
	// message.
	Part int
	// Ref is the concatenation reference of a multipart message or part, and
	// Concat how it was carried: "udh8" (UDH IEI 0x00), "udh16" (IEI 0x08),
	// "sar" (sar_* TLVs), or "" for a single message.
	Ref    int
	Concat string
}

// Counters are the simulator's running totals.
type Counters struct {
	Binds           uint64 // successful binds
	BindFailures    uint64 // binds rejected (credentials, state)
	Submits         uint64 // submit_sm accepted (each part of a multipart message counts)
	Rejected        uint64 // submit_sm answered with an error status (rules, hook, state), throttling apart
	Throttled       uint64 // submit_sm answered ESME_RTHROTTLED because of Config.TPS
	NoResponse      uint64 // submit_sm left unanswered on purpose (Config.NoResponse, rules)
	Dropped         uint64 // connections closed on purpose (Config.DropEvery, Config.DropAfter)
	Parts           uint64 // accepted submit_sm that were parts of a multipart message
	Joined          uint64 // multipart messages completed and joined into the inbox
	Receipts        uint64 // receipts (deliver_sm) written
	ReceiptsDropped uint64 // receipts dropped (queue full, nobody bound to receive)
	DeliverAcks     uint64 // deliver_sm_resp received
	EnquireLinks    uint64 // enquire_link received
	Unbinds         uint64 // unbind received
	GenericNACKs    uint64 // generic_nack sent
	Garbage         uint64 // connections dropped for unframeable input
}

type counters struct {
	binds, bindFailures, submits, rejected, throttled, noResponse, dropped,
	parts, joined, receipts, receiptsDropped, deliverAcks, enquireLinks,
	unbinds, genericNACKs, garbage atomic.Uint64
}

// Server is a running simulator.
type Server struct {
	cfg   Config
	log   *slog.Logger
	rules []Rule // longest prefix first

	idHigh  uint64        // the top bits of every message id: unique per simulator in a process, random across processes
	idSeq   atomic.Uint64 // the low 40 bits of the message id
	seen    atomic.Uint64 // submit_sm received while bound, for DropEvery
	sessSeq atomic.Uint64
	n       counters
	tps     *tokenbucket.Bucket // nil without Config.TPS

	mu       sync.Mutex
	ln       net.Listener
	closed   bool
	sessions map[*session]struct{}
	inbox    ring                  // single and joined messages
	parts    ring                  // raw parts of multipart messages
	joining  map[concatKey]*joiner // multipart messages waiting for parts
	pending  map[string][]receipt  // receipts waiting for a receiver bind, per system_id

	sched chan receipt // receipts waiting for their delay, in due order
	done  chan struct{}
	wg    sync.WaitGroup
}

// New checks cfg and returns a simulator that is not listening yet.
func New(cfg Config) (*Server, error) {
	if cfg.SystemID == "" {
		cfg.SystemID = DefaultSystemID
	}
	if cfg.Password == "" {
		cfg.Password = DefaultPassword
	}
	if cfg.ReceiptDelay == 0 {
		cfg.ReceiptDelay = DefaultReceiptDelay
	}
	if cfg.InboxSize == 0 {
		cfg.InboxSize = DefaultInboxSize
	}
	if cfg.ReceiptQueue == 0 {
		cfg.ReceiptQueue = DefaultReceiptQueue
	}
	if cfg.IDFormat == "" {
		cfg.IDFormat = DefaultIDFormat
	}
	if cfg.ReceiptIDFormat == "" {
		cfg.ReceiptIDFormat = DefaultReceiptIDFormat
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.UndeliveredShare < 0 || cfg.UndeliveredShare > 1:
		return nil, fmt.Errorf("smsc: Config.UndeliveredShare %v: must be within 0..1", cfg.UndeliveredShare)
	case cfg.UndeliveredPart < 0 || cfg.UndeliveredPart > 255:
		return nil, fmt.Errorf("smsc: Config.UndeliveredPart %d: must be within 0..255", cfg.UndeliveredPart)
	case cfg.InboxSize < 1:
		return nil, fmt.Errorf("smsc: Config.InboxSize %d: must be at least 1", cfg.InboxSize)
	case cfg.ReceiptQueue < 1:
		return nil, fmt.Errorf("smsc: Config.ReceiptQueue %d: must be at least 1", cfg.ReceiptQueue)
	case cfg.SubmitDelay < 0:
		return nil, fmt.Errorf("smsc: Config.SubmitDelay %v: must not be negative", cfg.SubmitDelay)
	case cfg.SubmitJitter < 0:
		return nil, fmt.Errorf("smsc: Config.SubmitJitter %v: must not be negative", cfg.SubmitJitter)
	case cfg.Window < 0:
		return nil, fmt.Errorf("smsc: Config.Window %d: must not be negative", cfg.Window)
	case cfg.TPS < 0:
		return nil, fmt.Errorf("smsc: Config.TPS %v: must not be negative", cfg.TPS)
	case cfg.DropEvery < 0:
		return nil, fmt.Errorf("smsc: Config.DropEvery %d: must not be negative", cfg.DropEvery)
	case cfg.DropAfter < 0:
		return nil, fmt.Errorf("smsc: Config.DropAfter %v: must not be negative", cfg.DropAfter)
	case cfg.IDFormat != IDHex && cfg.IDFormat != IDDecimal:
		return nil, fmt.Errorf("smsc: Config.IDFormat %q: want %q or %q", cfg.IDFormat, IDHex, IDDecimal)
	case cfg.ReceiptIDFormat != IDSame && cfg.ReceiptIDFormat != IDHex && cfg.ReceiptIDFormat != IDDecimal:
		return nil, fmt.Errorf("smsc: Config.ReceiptIDFormat %q: want %q, %q or %q", cfg.ReceiptIDFormat, IDSame, IDHex, IDDecimal)
	case len(cfg.SystemID) > 15:
		return nil, fmt.Errorf("smsc: Config.SystemID %q: SMPP allows 15 characters", cfg.SystemID)
	}
	rules, err := sortRules(cfg.Rules)
	if err != nil {
		return nil, err
	}
	high, err := nextIDHigh()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Log.With("component", "smsc-sim"),
		rules:    rules,
		idHigh:   high,
		sessions: make(map[*session]struct{}),
		inbox:    newRing(cfg.InboxSize),
		parts:    newRing(cfg.InboxSize),
		joining:  make(map[concatKey]*joiner),
		pending:  make(map[string][]receipt),
		sched:    make(chan receipt, 1<<16),
		done:     make(chan struct{}),
	}
	if cfg.TPS > 0 {
		s.tps = tokenbucket.New(cfg.TPS, cfg.TPS/10, time.Now()) // a tenth of a second's worth at once
	}
	return s, nil
}

// Listen starts accepting SMPP connections on addr (e.g. "127.0.0.1:0") and
// serves them in background goroutines until Close.
func (s *Server) Listen(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("smsc: Listen after Close")
	}
	if s.ln != nil {
		return fmt.Errorf("smsc: already listening on %s", s.ln.Addr())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("smsc: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.wg.Add(2)
	go s.acceptLoop(ln)
	go s.scheduleLoop()
	s.log.Info("smsc simulator listening", "addr", ln.Addr().String(), "system_id", s.cfg.SystemID)
	return nil
}

// Addr returns the address the simulator listens on, or "" before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops listening, closes every session and waits for all of the
// simulator's goroutines to exit. Receipts not yet sent are dropped.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ln := s.ln
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()

	close(s.done)
	var err error
	if ln != nil {
		err = ln.Close()
	}
	for _, ss := range sessions {
		ss.close()
	}
	s.wg.Wait()
	if err != nil {
		return fmt.Errorf("smsc: close listener: %w", err)
	}
	return nil
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return
			default:
			}
			s.log.Error("smsc accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
				continue
			case <-s.done:
				return
			}
		}
		ss := newSession(s, s.sessSeq.Add(1), conn)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.sessions[ss] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go ss.serve()
	}
}

// Message ids are 63-bit numbers: bit 62 set (so the hex form always has 16
// digits and the decimal form 19), 22 bits that differ between the
// simulators of one process and are random across processes, and a 40-bit
// counter.
const (
	idCounterBits = 40
	idInstanceMax = 1 << 22
)

var (
	idBaseOnce sync.Once
	idBase     uint64
	idBaseErr  error
	idInstance atomic.Uint64
)

// nextIDHigh returns the top bits of a new simulator's message ids.
func nextIDHigh() (uint64, error) {
	idBaseOnce.Do(func() {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			idBaseErr = fmt.Errorf("smsc: read random id base: %w", err)
			return
		}
		idBase = binary.BigEndian.Uint64(b[:])
	})
	if idBaseErr != nil {
		return 0, idBaseErr
	}
	inst := (idBase + idInstance.Add(1)) % idInstanceMax
	return (1<<22 | inst) << idCounterBits, nil
}

// newID returns a fresh message id, as submit_sm_resp and receipts write it.
func (s *Server) newID() (id, receiptID string) {
	n := s.idHigh | s.idSeq.Add(1)&(1<<idCounterBits-1)
	id = formatID(n, s.cfg.IDFormat)
	receiptID = id
	if f := s.cfg.ReceiptIDFormat; f != IDSame && f != s.cfg.IDFormat {
		receiptID = formatID(n, f)
	}
	return id, receiptID
}

func formatID(n uint64, format string) string {
	if format == IDDecimal {
		return strconv.FormatUint(n, 10)
	}
	return strconv.FormatUint(n, 16)
}

// ring is a fixed-size buffer of messages, oldest overwritten first.
type ring struct {
	buf  []Message
	next int // where the next message goes
	size int
}

func newRing(size int) ring {
	return ring{buf: make([]Message, 0, min(size, 1024)), size: size}
}

func (r *ring) add(m Message) {
	if len(r.buf) < r.size {
		r.buf = append(r.buf, m)
	} else {
		r.buf[r.next] = m
	}
	r.next = (r.next + 1) % r.size
}

// list returns the messages to number ("" for all), newest first.
func (r *ring) list(number string) []Message {
	want := strings.TrimPrefix(strings.TrimSpace(number), "+")
	n := len(r.buf)
	var out []Message
	for i := 0; i < n; i++ {
		m := r.buf[(r.next-1-i+2*n)%n]
		if want == "" || strings.TrimPrefix(m.To, "+") == want {
			out = append(out, m)
		}
	}
	return out
}

// Messages returns the messages in the inbox sent to number, newest first;
// number "" returns them all. Numbers match in E.164 with or without '+'. A
// multipart message is listed once, joined, when all its parts have arrived
// (Parts lists the raw parts).
func (s *Server) Messages(number string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inbox.list(number)
}

// Parts returns the raw parts of multipart messages sent to number, newest
// first, each with its own message id; number "" returns them all.
func (s *Server) Parts(number string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parts.list(number)
}

// Stats returns how many submit_sm were accepted and how many receipts were
// sent.
func (s *Server) Stats() (submits, receipts uint64) {
	return s.n.submits.Load(), s.n.receipts.Load()
}

// Counters returns all running totals.
func (s *Server) Counters() Counters {
	return Counters{
		Binds:           s.n.binds.Load(),
		BindFailures:    s.n.bindFailures.Load(),
		Submits:         s.n.submits.Load(),
		Rejected:        s.n.rejected.Load(),
		Throttled:       s.n.throttled.Load(),
		NoResponse:      s.n.noResponse.Load(),
		Dropped:         s.n.dropped.Load(),
		Parts:           s.n.parts.Load(),
		Joined:          s.n.joined.Load(),
		Receipts:        s.n.receipts.Load(),
		ReceiptsDropped: s.n.receiptsDropped.Load(),
		DeliverAcks:     s.n.deliverAcks.Load(),
		EnquireLinks:    s.n.enquireLinks.Load(),
		Unbinds:         s.n.unbinds.Load(),
		GenericNACKs:    s.n.genericNACKs.Load(),
		Garbage:         s.n.garbage.Load(),
	}
}

// Sessions returns how many connections are open (bound or not).
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
