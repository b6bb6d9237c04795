// Package smsc is an SMSC simulator that speaks SMPP 3.4 over TCP, for
// Otpgate's sandbox, tests and benchmarks. It owns the SMSC side of the wire:
// it accepts bind_transmitter, bind_receiver and bind_transceiver (checking
// system_id and password), answers submit_sm with unique message ids, decodes
// the text (GSM 03.38, UCS-2, Latin-1) into an in-memory inbox that the
// sandbox reads, and sends delivery receipts as deliver_sm (text and TLVs)
// after a configurable delay, with a configurable share of failures. It also
// answers enquire_link and unbind, generic_nacks what it does not support,
// and survives garbage.
//
// The inbox holds the messages in clear, codes included: it exists for the
// sandbox only.
package smsc

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// stat:UNDELIV (err:001) instead of DELIVRD. Default 0.
	UndeliveredShare float64
	// SubmitDelay delays every submit_sm_resp, to simulate a slow SMSC (the
	// session keeps reading meanwhile). Default 0: answer at once.
	SubmitDelay time.Duration
	// SubmitStatus, when set, is asked for every submit_sm before it is
	// accepted (Message.ID is still empty); a non-zero status rejects it with
	// that command_status (e.g. 0x58 ESME_RTHROTTLED). Default nil: accept all.
	// It must be cheap and safe for concurrent use.
	SubmitStatus func(Message) pdu.Status
	// InboxSize is how many messages the inbox keeps (oldest dropped first).
	// Default 10000.
	InboxSize int
	// ReceiptQueue bounds the receipts waiting to be written on one session;
	// when it is full (a slow client), further receipts for it are dropped and
	// counted. Default 4096.
	ReceiptQueue int
	// OnMessage, when set, is called with every accepted message, after it is
	// stored and before submit_sm_resp is sent. It runs on the session's
	// reader goroutine: it must be cheap and must not block.
	OnMessage func(Message)
	// Log receives the simulator's logs. Default: discarded. Message text is
	// never logged.
	Log *slog.Logger
}

// Defaults of Config.
const (
	DefaultSystemID     = "otpgate"
	DefaultPassword     = "secret"
	DefaultReceiptDelay = 200 * time.Millisecond
	DefaultInboxSize    = 10000
	DefaultReceiptQueue = 4096
)

// Message is a short message the simulator accepted.
type Message struct {
	ID         string // the message id given in submit_sm_resp
	From       string // source_addr; '+'-prefixed when TON is international
	To         string // destination in E.164 with '+'
	Text       string // decoded to UTF-8 (hex for binary data codings)
	Encoding   string // "gsm7", "ucs2", "latin1", "ascii" or "binary"
	DataCoding byte   // data_coding as received
	ReceivedAt time.Time
}

// Counters are the simulator's running totals.
type Counters struct {
	Binds           uint64 // successful binds
	BindFailures    uint64 // binds rejected (credentials, state)
	Submits         uint64 // submit_sm accepted
	Rejected        uint64 // submit_sm rejected
	Receipts        uint64 // receipts (deliver_sm) written
	ReceiptsDropped uint64 // receipts dropped (queue full, nobody bound to receive)
	DeliverAcks     uint64 // deliver_sm_resp received
	EnquireLinks    uint64 // enquire_link received
	Unbinds         uint64 // unbind received
	GenericNACKs    uint64 // generic_nack sent
	Garbage         uint64 // connections dropped for unframeable input
}

type counters struct {
	binds, bindFailures, submits, rejected, receipts, receiptsDropped,
	deliverAcks, enquireLinks, unbinds, genericNACKs, garbage atomic.Uint64
}

// Server is a running simulator.
type Server struct {
	cfg Config
	log *slog.Logger

	idPrefix string        // start time and randomness: ids stay unique across restarts
	idSeq    atomic.Uint64 // the 64-bit message id counter
	sessSeq  atomic.Uint64
	n        counters

	mu       sync.Mutex
	ln       net.Listener
	closed   bool
	sessions map[*session]struct{}
	inbox    []Message            // ring of cfg.InboxSize
	next     int                  // where the next message goes in inbox
	pending  map[string][]receipt // receipts waiting for a receiver bind, per system_id

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
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case cfg.UndeliveredShare < 0 || cfg.UndeliveredShare > 1:
		return nil, fmt.Errorf("smsc: Config.UndeliveredShare %v: must be within 0..1", cfg.UndeliveredShare)
	case cfg.InboxSize < 1:
		return nil, fmt.Errorf("smsc: Config.InboxSize %d: must be at least 1", cfg.InboxSize)
	case cfg.ReceiptQueue < 1:
		return nil, fmt.Errorf("smsc: Config.ReceiptQueue %d: must be at least 1", cfg.ReceiptQueue)
	case cfg.SubmitDelay < 0:
		return nil, fmt.Errorf("smsc: Config.SubmitDelay %v: must not be negative", cfg.SubmitDelay)
	case len(cfg.SystemID) > 15:
		return nil, fmt.Errorf("smsc: Config.SystemID %q: SMPP allows 15 characters", cfg.SystemID)
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("smsc: read random id prefix: %w", err)
	}
	return &Server{
		cfg:      cfg,
		log:      cfg.Log.With("component", "smsc-sim"),
		idPrefix: fmt.Sprintf("%08x%06x", uint32(time.Now().Unix()), binary.BigEndian.Uint32(rnd[:])&0xFFFFFF),
		sessions: make(map[*session]struct{}),
		inbox:    make([]Message, 0, min(cfg.InboxSize, 1024)),
		pending:  make(map[string][]receipt),
		sched:    make(chan receipt, 1<<16),
		done:     make(chan struct{}),
	}, nil
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

// newID returns a message id unique across sessions and restarts: the
// start time and 24 random bits, then a 64-bit counter, in hex.
func (s *Server) newID() string {
	return fmt.Sprintf("%s%08x", s.idPrefix, s.idSeq.Add(1))
}

// store adds m to the inbox.
func (s *Server) store(m Message) {
	s.mu.Lock()
	if len(s.inbox) < s.cfg.InboxSize {
		s.inbox = append(s.inbox, m)
	} else {
		s.inbox[s.next] = m
	}
	s.next = (s.next + 1) % s.cfg.InboxSize
	s.mu.Unlock()
}

// Messages returns the messages in the inbox sent to number, newest first;
// number "" returns them all. Numbers match in E.164 with or without '+'.
func (s *Server) Messages(number string) []Message {
	want := strings.TrimPrefix(strings.TrimSpace(number), "+")
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.inbox)
	var out []Message
	for i := 0; i < n; i++ {
		m := s.inbox[(s.next-1-i+2*n)%n]
		if want == "" || strings.TrimPrefix(m.To, "+") == want {
			out = append(out, m)
		}
	}
	return out
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
