// Package uas is a SIP simulator of the called party (a user agent server)
// for the sandbox, tests and benchmarks, also run as `otpgate sip-sim`.
//
// It listens on UDP, TCP and/or TLS, may challenge every INVITE with a 401
// digest challenge (Config.Password), and decides by the called number's
// longest matching prefix (Config.Rules) whether to answer, answer busy
// (486), ring until the caller gives up with CANCEL (487), or fail (503).
// An answered call gets an SDP answer choosing PCMU if offered, else PCMA,
// and an RTP port of its own; every RTP packet that arrives there is kept
// and the payloads are put back in sequence-number order, so the recording
// is byte for byte what the caller sent (Calls, Call). The simulator never
// hangs up: it waits for the caller's BYE.
//
// The recordings hold the spoken one-time codes; they are never logged.
package uas

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
	"github.com/pion/rtp"

	"github.com/otpgate/otpgate/sip/internal/sdp"
)

// Actions a Rule may take.
const (
	ActionAnswer   = "answer"    // answer (after Config.AnswerDelay) and record
	ActionBusy     = "busy"      // 486 Busy Here
	ActionNoAnswer = "no_answer" // ring until CANCEL (or MaxRing, then 480)
	ActionFail     = "fail"      // 503 Service Unavailable
)

// Outcomes of a CallRecord.
const (
	OutcomeRinging  = "ringing"   // still ringing
	OutcomeAnswered = "answered"  // answered (Ended is zero while the call is up)
	OutcomeBusy     = "busy"      // answered 486
	OutcomeNoAnswer = "no_answer" // the caller cancelled, or MaxRing passed
	OutcomeFailed   = "failed"    // answered 503
)

// Defaults of Config.
const (
	DefaultRealm     = "otpgate-sim"
	DefaultMaxRecord = 60 * time.Second
	DefaultMaxRing   = 3 * time.Minute
	DefaultHistory   = 10000
)

// Rule picks the Action for called numbers that start with Prefix (with or
// without '+'; "" matches every number). The longest matching prefix wins;
// a number no rule matches is answered.
type Rule struct {
	Prefix string
	Action string
}

// Config of a Server. The zero value answers every call at once.
type Config struct {
	// When Password is set, every INVITE without valid digest credentials
	// for Username (any user when empty) in Realm (default "otpgate-sim")
	// gets a 401 challenge; wrong credentials get 403.
	Realm, Username, Password string
	Rules                     []Rule
	AnswerDelay               time.Duration // ringing time before an answer
	MaxRecord                 time.Duration // stop recording a call after this; default 60s
	MaxRing                   time.Duration // a no_answer call gets 480 after this; default 3m
	// MediaIP is the address put in SDP and Contact; default the listening
	// host, or 127.0.0.1 when that is unspecified (0.0.0.0, ::).
	MediaIP string
	History int // calls kept for Calls and Call, oldest dropped first; default 10000
	// Codecs the simulator accepts, in order of preference: "PCMU",
	// "PCMA"; default both, PCMU first. An offer with none gets 488.
	Codecs []string
	Log    *slog.Logger
}

// CallRecord is one call the simulator received.
type CallRecord struct {
	ID                       string // the SIP Call-ID
	From, To                 string // user parts of the From and To URIs
	Started, Answered, Ended time.Time
	Outcome                  string
	Codec                    string // PCMU or PCMA
	Audio                    []byte // the G.711 payloads received, in sequence order, raw
	Packets                  int    // RTP packets recorded (after duplicates are dropped)
	SeqGaps                  int    // sequence numbers missing between the first and the last packet
}

// Server is the simulator.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	dua     *sipgo.DialogUA
	secret  [32]byte
	mediaIP netip.Addr
	prefer  []int // payload types accepted, best first

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners []io.Closer
	addrs     []string
	ports     map[string]int // "UDP"/"TCP" → listening port
	dialogs   map[string]*call
	calls     []*call // oldest first
	byID      map[string]*call
}

// New checks cfg and makes a Server; Listen starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.MaxRecord <= 0 {
		cfg.MaxRecord = DefaultMaxRecord
	}
	if cfg.MaxRing <= 0 {
		cfg.MaxRing = DefaultMaxRing
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.AnswerDelay < 0 {
		return nil, errors.New("uas: negative answer delay")
	}
	for _, r := range cfg.Rules {
		if err := checkAction(r.Action); err != nil {
			return nil, err
		}
	}
	cfg.Rules = slices.Clone(cfg.Rules)
	var prefer []int
	for _, name := range cfg.Codecs {
		switch strings.ToUpper(name) {
		case "PCMU":
			prefer = append(prefer, sdp.PCMU)
		case "PCMA":
			prefer = append(prefer, sdp.PCMA)
		default:
			return nil, fmt.Errorf("uas: codec %q: want PCMU or PCMA", name)
		}
	}
	if len(prefer) == 0 {
		prefer = []int{sdp.PCMU, sdp.PCMA}
	}
	s := &Server{
		prefer:  prefer,
		cfg:     cfg,
		log:     cfg.Log,
		ports:   map[string]int{},
		dialogs: map[string]*call{},
		byID:    map[string]*call{},
	}
	if cfg.MediaIP != "" {
		ip, err := netip.ParseAddr(cfg.MediaIP)
		if err != nil {
			return nil, fmt.Errorf("uas: media IP %q: %w", cfg.MediaIP, err)
		}
		s.mediaIP = ip.Unmap()
	}
	if _, err := rand.Read(s.secret[:]); err != nil {
		return nil, err
	}
	var err error
	s.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent("otpgate-sip-sim"),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(s.log),
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(s.log)),
	)
	if err != nil {
		return nil, err
	}
	s.srv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(s.log))
	if err != nil {
		s.ua.Close()
		return nil, err
	}
	cli, err := sipgo.NewClient(s.ua, sipgo.WithClientLogger(s.log))
	if err != nil {
		s.ua.Close()
		return nil, err
	}
	s.dua = &sipgo.DialogUA{Client: cli}
	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.onBye)
	s.srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		// A CANCEL that matched an INVITE never gets here.
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
	})
	s.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Listen starts serving SIP on network "udp" or "tcp" at addr (host:port;
// port 0 picks a free one). It may be called once per network.
func (s *Server) Listen(network, addr string) error {
	return s.listen(network, addr, nil)
}

// ListenTLS starts serving SIP over TLS at addr with conf (which needs a
// certificate).
func (s *Server) ListenTLS(addr string, conf *tls.Config) error {
	if conf == nil {
		return errors.New("uas: ListenTLS needs a TLS config")
	}
	return s.listen("tls", addr, conf)
}

func (s *Server) listen(network, addr string, conf *tls.Config) error {
	network = strings.ToLower(network)
	var closer io.Closer
	var local net.Addr
	var serve func() error
	switch network {
	case "tls":
		l, err := tls.Listen("tcp", addr, conf)
		if err != nil {
			return fmt.Errorf("uas: %w", err)
		}
		closer, local = l, l.Addr()
		serve = func() error { return s.srv.ServeTLS(l) }
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return fmt.Errorf("uas: %w", err)
		}
		closer, local = pc, pc.LocalAddr()
		serve = func() error { return s.srv.ServeUDP(pc) }
	case "tcp":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("uas: %w", err)
		}
		closer, local = l, l.Addr()
		serve = func() error { return s.srv.ServeTCP(l) }
	default:
		return fmt.Errorf("uas: network %q: want udp or tcp", network)
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		closer.Close()
		return fmt.Errorf("uas: %w", err)
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		closer.Close()
		return errors.New("uas: server closed")
	}
	if _, dup := s.ports[strings.ToUpper(network)]; dup {
		s.mu.Unlock()
		closer.Close()
		return fmt.Errorf("uas: already listening on %s", network)
	}
	if !s.mediaIP.IsValid() {
		if ip := ap.Addr().Unmap(); !ip.IsUnspecified() {
			s.mediaIP = ip
		} else {
			s.mediaIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
	s.ports[strings.ToUpper(network)] = int(ap.Port())
	s.listeners = append(s.listeners, closer)
	s.addrs = append(s.addrs, local.String())
	if s.dua.ContactHDR.Address.Host == "" {
		s.dua.ContactHDR = s.contact(strings.ToUpper(network))
	}
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(); err != nil && s.ctx.Err() == nil {
			s.log.Error("sip-sim: listener stopped", "network", network, "err", err)
		}
	}()
	s.log.Info("sip-sim: listening", "network", network, "addr", local.String())
	return nil
}

// Addr is the address of the first listener ("" before Listen).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.addrs) == 0 {
		return ""
	}
	return s.addrs[0]
}

// Close stops listening and ends every call's recording.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return nil
	}
	s.cancel()
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	s.ua.Close()
	s.wg.Wait()
	return nil
}

// contact is the Contact header for responses on transport tp (s.mu held
// or the ports fixed).
func (s *Server) contact(tp string) sip.ContactHeader {
	h := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: s.mediaIP.String(), Port: s.ports[tp], UriParams: sip.NewParams()}}
	if tp != "UDP" {
		h.Address.UriParams.Add("transport", strings.ToLower(tp))
	}
	return h
}

// action is the Action of the longest rule matching number.
func (s *Server) action(number string) string {
	n := strings.TrimPrefix(number, "+")
	best, action := -1, ActionAnswer
	for _, r := range s.cfg.Rules {
		p := strings.TrimPrefix(r.Prefix, "+")
		if strings.HasPrefix(n, p) && len(p) > best {
			best, action = len(p), r.Action
		}
	}
	return action
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if req.To() != nil && req.To().Params.Has("tag") {
		// No re-INVITEs: the simulator's calls do not change.
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return
	}
	if s.cfg.Password != "" && !s.authorize(req, tx) {
		return
	}
	offer, err := sdp.Parse(req.Body())
	pt := sdp.Choose(offer.Formats, s.prefer...)
	if err != nil || pt < 0 {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusNotAcceptableHere, "Not Acceptable Here", nil))
		return
	}
	dlg, err := s.dua.ReadInvite(req, tx)
	if err != nil {
		s.log.Warn("sip-sim: bad INVITE", "err", err)
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
		return
	}
	defer dlg.Close()
	tp := strings.ToUpper(req.Transport())
	s.mu.Lock()
	contact := s.contact(tp)
	s.mu.Unlock()

	c := &call{rec: CallRecord{
		ID:      req.CallID().Value(),
		From:    req.From().Address.User,
		To:      req.To().Address.User,
		Started: time.Now(),
		Outcome: OutcomeRinging,
		Codec:   sdp.CodecName(pt),
	}, pt: uint8(pt), dlg: dlg}
	if !s.addCall(c, dlg.ID) {
		dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, &contact)
		return
	}
	action := s.action(c.rec.To)
	log := s.log.With("call_id", c.rec.ID, "to", c.rec.To)

	if err := dlg.Respond(sip.StatusRinging, "Ringing", nil, &contact); err != nil {
		s.endCall(c, dlg.ID, OutcomeNoAnswer, log)
		return
	}
	switch action {
	case ActionBusy:
		dlg.Respond(sip.StatusBusyHere, "Busy Here", nil, &contact)
		s.endCall(c, dlg.ID, OutcomeBusy, log)
		return
	case ActionFail:
		dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, &contact)
		s.endCall(c, dlg.ID, OutcomeFailed, log)
		return
	case ActionNoAnswer:
		t := time.NewTimer(s.cfg.MaxRing)
		defer t.Stop()
		select {
		case <-dlg.Context().Done(): // CANCEL: the transaction answered 487
		case <-t.C:
			dlg.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil, &contact)
		case <-s.ctx.Done():
		}
		s.endCall(c, dlg.ID, OutcomeNoAnswer, log)
		return
	}

	if d := s.cfg.AnswerDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-dlg.Context().Done():
			t.Stop()
			s.endCall(c, dlg.ID, OutcomeNoAnswer, log)
			return
		case <-s.ctx.Done():
			t.Stop()
			s.endCall(c, dlg.ID, OutcomeNoAnswer, log)
			return
		}
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.mediaIP, 0)))
	if err != nil {
		log.Error("sip-sim: RTP socket", "err", err)
		dlg.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil, &contact)
		s.endCall(c, dlg.ID, OutcomeFailed, log)
		return
	}
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		c.record(conn, s.cfg.MaxRecord)
	}()
	stopMedia := func() {
		conn.Close()
		<-recorded
	}
	answer := sdp.Write("otpgate-sim", uint64(time.Now().UnixNano()), sdp.Session{
		Addr: s.mediaIP, Port: conn.LocalAddr().(*net.UDPAddr).Port, Formats: []int{pt},
		Direction: "recvonly",
	})
	res := sip.NewSDPResponseFromRequest(dlg.InviteRequest, answer)
	res.AppendHeader(&contact)
	c.mu.Lock()
	c.rec.Answered = time.Now()
	c.rec.Outcome = OutcomeAnswered
	c.mu.Unlock()
	if err := dlg.WriteResponse(res); err != nil {
		// Cancelled before the 200 left, or no ACK came.
		stopMedia()
		outcome := OutcomeNoAnswer
		if dlg.LoadState() >= sip.DialogStateEstablished {
			outcome = OutcomeAnswered
		} else {
			c.mu.Lock()
			c.rec.Answered = time.Time{}
			c.mu.Unlock()
		}
		log.Info("sip-sim: answer not confirmed", "err", err)
		s.endCall(c, dlg.ID, outcome, log)
		return
	}
	log.Info("sip-sim: answered", "codec", c.rec.Codec)
	s.wg.Add(1)
	go func() { // the call is up until the caller's BYE
		defer s.wg.Done()
		select {
		case <-dlg.Context().Done():
		case <-s.ctx.Done():
		}
		stopMedia()
		s.endCall(c, dlg.ID, OutcomeAnswered, log)
	}()
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := s.lookup(req); c != nil && c.dlg != nil {
		c.dlg.ReadAck(req, tx)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil || c.dlg == nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		return
	}
	if err := c.dlg.ReadBye(req, tx); err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil))
	}
}

func (s *Server) lookup(req *sip.Request) *call {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[id]
}

// addCall records a new call and its dialog; false when closed.
func (s *Server) addCall(c *call, dialogID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.calls = append(s.calls, c)
	s.byID[c.rec.ID] = c
	s.dialogs[dialogID] = c
	if len(s.calls) > s.cfg.History {
		old := s.calls[0]
		s.calls[0] = nil
		s.calls = s.calls[1:]
		if s.byID[old.rec.ID] == old {
			delete(s.byID, old.rec.ID)
		}
	}
	return true
}

func (s *Server) endCall(c *call, dialogID, outcome string, log *slog.Logger) {
	c.mu.Lock()
	if c.rec.Ended.IsZero() {
		c.rec.Ended = time.Now()
		c.rec.Outcome = outcome
	}
	packets := c.packets
	c.mu.Unlock()
	s.mu.Lock()
	delete(s.dialogs, dialogID)
	s.mu.Unlock()
	// The recording holds the code spoken: only its size is logged.
	log.Info("sip-sim: call ended", "outcome", outcome, "rtp_packets", packets)
}

// Calls returns the calls to number (with or without '+'), newest first.
func (s *Server) Calls(number string) []CallRecord {
	n := strings.TrimPrefix(number, "+")
	s.mu.Lock()
	var cs []*call
	for i := len(s.calls) - 1; i >= 0; i-- {
		if strings.TrimPrefix(s.calls[i].rec.To, "+") == n {
			cs = append(cs, s.calls[i])
		}
	}
	s.mu.Unlock()
	out := make([]CallRecord, len(cs))
	for i, c := range cs {
		out[i] = c.snapshot()
	}
	return out
}

// Call returns the call with this SIP Call-ID.
func (s *Server) Call(id string) (CallRecord, bool) {
	s.mu.Lock()
	c := s.byID[id]
	s.mu.Unlock()
	if c == nil {
		return CallRecord{}, false
	}
	return c.snapshot(), true
}

// authorize checks the INVITE's digest credentials; when they are missing,
// stale or wrong it answers the INVITE (401 or 403) and returns false.
func (s *Server) authorize(req *sip.Request, tx sip.ServerTransaction) bool {
	h := req.GetHeader("Authorization")
	if h == nil {
		s.challenge(req, tx, false)
		return false
	}
	cred, err := digest.ParseCredentials(h.Value())
	if err != nil || cred.Realm != s.cfg.Realm {
		s.challenge(req, tx, false)
		return false
	}
	if !s.validNonce(cred.Nonce) {
		s.challenge(req, tx, true)
		return false
	}
	chal := &digest.Challenge{Realm: s.cfg.Realm, Nonce: cred.Nonce, Algorithm: "MD5"}
	if cred.QOP == "auth" {
		chal.QOP = []string{"auth"}
	}
	want, err := digest.Digest(chal, digest.Options{
		Method: "INVITE", URI: cred.URI, Username: cred.Username, Password: s.cfg.Password,
		Cnonce: cred.Cnonce, Count: cred.Nc,
	})
	userOK := s.cfg.Username == "" || cred.Username == s.cfg.Username
	if err != nil || !userOK || subtle.ConstantTimeCompare([]byte(want.Response), []byte(cred.Response)) != 1 {
		s.log.Info("sip-sim: wrong digest credentials", "user", cred.Username)
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusForbidden, "Forbidden", nil))
		return false
	}
	return true
}

func (s *Server) challenge(req *sip.Request, tx sip.ServerTransaction, stale bool) {
	chal := digest.Challenge{Realm: s.cfg.Realm, Nonce: s.nonce(time.Now()), Algorithm: "MD5", QOP: []string{"auth"}, Stale: stale}
	res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
	res.AppendHeader(sip.NewHeader("WWW-Authenticate", chal.String()))
	tx.Respond(res)
}

// nonce is the time it was made and a MAC of it, so any nonce this server
// made can be checked without keeping state.
func (s *Server) nonce(t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 16)
	m := hmac.New(sha256.New, s.secret[:])
	m.Write([]byte(ts))
	return ts + "." + hex.EncodeToString(m.Sum(nil)[:12])
}

func (s *Server) validNonce(n string) bool {
	ts, _, ok := strings.Cut(n, ".")
	if !ok {
		return false
	}
	sec, err := strconv.ParseInt(ts, 16, 64)
	if err != nil {
		return false
	}
	t := time.Unix(sec, 0)
	if age := time.Since(t); age > 5*time.Minute || age < -time.Minute {
		return false
	}
	return hmac.Equal([]byte(s.nonce(t)), []byte(n))
}

// call is the state of one received call.
type call struct {
	mu      sync.Mutex
	rec     CallRecord // Audio, Packets and SeqGaps are made by snapshot
	pt      uint8
	dlg     *sipgo.DialogServerSession
	pkts    []packet
	packets int // received, before duplicates are dropped
	haveSeq bool
	maxExt  int64
}

type packet struct {
	seq     int64 // extended sequence number
	payload []byte
}

// record keeps every RTP packet of the call's payload type that reaches
// conn, for at most maxRecord after the first, until conn is closed.
func (c *call) record(conn *net.UDPConn, maxRecord time.Duration) {
	buf := make([]byte, 2048)
	var first time.Time
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var h rtp.Header
		hl, err := h.Unmarshal(buf[:n])
		if err != nil || h.PayloadType != c.pt {
			continue
		}
		now := time.Now()
		if first.IsZero() {
			first = now
		} else if now.Sub(first) > maxRecord {
			continue
		}
		end := n
		if h.Padding && n > hl && int(buf[n-1]) <= n-hl {
			end = n - int(buf[n-1])
		}
		payload := append([]byte(nil), buf[hl:end]...)
		c.mu.Lock()
		var ext int64
		if !c.haveSeq {
			ext, c.haveSeq = int64(h.SequenceNumber), true
			c.maxExt = ext
		} else {
			ext = c.maxExt + int64(int16(h.SequenceNumber-uint16(c.maxExt)))
			c.maxExt = max(c.maxExt, ext)
		}
		c.pkts = append(c.pkts, packet{seq: ext, payload: payload})
		c.packets++
		c.mu.Unlock()
	}
}

// snapshot is the call's record with its audio put in sequence order.
func (c *call) snapshot() CallRecord {
	c.mu.Lock()
	r := c.rec
	pkts := slices.Clone(c.pkts)
	c.mu.Unlock()
	slices.SortStableFunc(pkts, func(a, b packet) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	size := 0
	for _, p := range pkts {
		size += len(p.payload)
	}
	r.Audio = make([]byte, 0, size)
	for i, p := range pkts {
		if i > 0 {
			d := p.seq - pkts[i-1].seq
			if d == 0 {
				continue // duplicate
			}
			r.SeqGaps += int(d - 1)
		}
		r.Audio = append(r.Audio, p.payload...)
		r.Packets++
	}
	return r
}

func checkAction(a string) error {
	switch a {
	case ActionAnswer, ActionBusy, ActionNoAnswer, ActionFail:
		return nil
	}
	return fmt.Errorf("uas: action %q: want answer, busy, no_answer or fail", a)
}
