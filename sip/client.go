package sip

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/otpgate/otpgate/internal/tokenbucket"
	"github.com/otpgate/otpgate/sip/internal/sdp"
	"github.com/zaf/g711"
)

// Trunk is one SIP trunk (or outbound proxy) calls are placed on.
type Trunk struct {
	Name      string // for logs and metric labels; default Addr
	Addr      string // host:port of the SIP trunk / proxy
	Transport string // "udp" (default) | "tcp" | "tls"
	// Digest credentials for 401/407 challenges; Username defaults to From.
	Username, Password string
	From               string // caller id user part, e.g. "+15550001111" (default "otpgate")
	// Domain of the From and To URIs and of the Request-URI; default the
	// trunk host. When it is not the trunk host, requests are routed to
	// Addr through a loose Route header.
	Domain      string
	MaxCalls    int           // concurrent calls; default 100; Place fails at once past it
	CPS         float64       // calls per second; 0 = no limit; Place waits for its turn
	RingTimeout time.Duration // give up (CANCEL) a call not answered by then; default 30s
	// ResponseTimeout is how long to wait for a first response (even 100
	// Trying) to the INVITE before the trunk counts as unreachable (a
	// transport failure); default 8s, at most RingTimeout.
	ResponseTimeout time.Duration
	// LocalIP is the address of RTP and of the Contact; default 127.0.0.1
	// for loopback trunks, else the address of the outbound interface.
	LocalIP string
	// TLSConfig for Transport "tls"; default: the system roots, server name
	// the trunk host.
	TLSConfig *tls.Config
}

// Call is one call to place.
type Call struct {
	To string // E.164 number called
	// CallID is the SIP Call-ID to use, so the caller can name the call
	// before it is placed (the gateway records it as the message id, and a
	// trunk's logs show the same id); "" for a fresh random one. It must be
	// unique.
	CallID    string
	Audio     []byte // what to play: 8 kHz G.711 µ-law
	AudioALaw []byte // the same in A-law, used if PCMA is chosen (converted from Audio when nil)
	// OnRTP, when set, receives every RTP packet that arrives on the call's
	// RTP port (header and payload) while the call is up. The slice is
	// reused after OnRTP returns. Never log its payload.
	OnRTP func(packet []byte)
}

// Outcome is how a call ended.
type Outcome string

const (
	OutcomeAnswered Outcome = "answered"
	OutcomeBusy     Outcome = "busy"      // 486, 600, 603
	OutcomeNoAnswer Outcome = "no_answer" // 480, 408, 487, ring timeout, or cancelled while ringing
	OutcomeFailed   Outcome = "failed"
)

// Who hung up an answered call (Result.EndedBy).
const (
	EndedCompleted = "completed" // we did, after playing the audio
	EndedCanceled  = "canceled"  // we did, because ctx ended (or Close)
	EndedRemote    = "remote"    // the far end sent BYE
)

// Result describes a placed call.
type Result struct {
	CallID     string
	Outcome    Outcome
	SIPStatus  int // final response to the INVITE (200, 486, 487…); 0 when none came
	Started    time.Time
	Answered   time.Time // zero unless answered
	Ended      time.Time
	RTPPackets int    // RTP packets sent
	Codec      string // PCMU or PCMA, for answered calls
	EndedBy    string // for answered calls: completed, canceled or remote
}

// Defaults of Trunk.
const (
	DefaultFrom            = "otpgate"
	DefaultMaxCalls        = 100
	DefaultRingTimeout     = 30 * time.Second
	DefaultResponseTimeout = 8 * time.Second
)

// tailDelay is how long the line stays up after the last packet, so the
// far end's jitter buffer plays it out before the BYE.
const tailDelay = 200 * time.Millisecond

// byeTimeout bounds the wait for the 200 to a BYE.
const byeTimeout = 10 * time.Second

// Client places calls on one trunk. It is safe for concurrent use.
type Client struct {
	t          Trunk
	log        *slog.Logger
	ua         *sipgo.UserAgent
	cli        *sipgo.Client
	srv        *sipgo.Server
	dialogs    *sipgo.DialogClientCache
	contact    sip.ContactHeader
	transport  string // UDP, TCP, TLS
	localIP    netip.Addr
	domain     string
	domainPort int // port in the Request-URI (the trunk's, when Domain is its host)
	route      *sip.RouteHeader
	sipConn    net.PacketConn // the UDP socket of signalling

	slots chan struct{}
	cps   *tokenbucket.Bucket // Trunk.CPS, calls spaced 1/CPS apart (no burst); nil for none
	m     *clientMetrics
	hist  *latencyHist

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	calls  sync.WaitGroup
	once   sync.Once
}

// NewClient checks t, fills in its defaults and opens the client's
// signalling socket (UDP) or prepares its connections (TCP, TLS: dialled on
// the first call).
func NewClient(t Trunk, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.Default()
	}
	host, portStr, err := net.SplitHostPort(t.Addr)
	if err != nil {
		return nil, fmt.Errorf("sip: trunk address %q: %w", t.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("sip: trunk address %q: bad port", t.Addr)
	}
	if t.Name == "" {
		t.Name = t.Addr
	}
	t.Transport = strings.ToLower(t.Transport)
	switch t.Transport {
	case "":
		t.Transport = "udp"
	case "udp", "tcp", "tls":
	default:
		return nil, fmt.Errorf("sip: trunk %s: transport %q: want udp, tcp or tls", t.Name, t.Transport)
	}
	if t.From == "" {
		t.From = DefaultFrom
	}
	if t.Username == "" {
		t.Username = t.From
	}
	if t.MaxCalls <= 0 {
		t.MaxCalls = DefaultMaxCalls
	}
	if t.RingTimeout <= 0 {
		t.RingTimeout = DefaultRingTimeout
	}
	if t.ResponseTimeout <= 0 {
		t.ResponseTimeout = DefaultResponseTimeout
	}
	t.ResponseTimeout = min(t.ResponseTimeout, t.RingTimeout)
	if t.CPS < 0 {
		return nil, fmt.Errorf("sip: trunk %s: negative CPS", t.Name)
	}
	localIP, err := pickLocalIP(t.LocalIP, host, t.Addr)
	if err != nil {
		return nil, fmt.Errorf("sip: trunk %s: %w", t.Name, err)
	}
	t.LocalIP = localIP.String()

	c := &Client{
		t:         t,
		log:       log.With("trunk", t.Name),
		transport: strings.ToUpper(t.Transport),
		localIP:   localIP,
		slots:     make(chan struct{}, t.MaxCalls),
		cps:       callRate(t.CPS),
		m:         newClientMetrics(t.Name),
		hist:      new(latencyHist),
	}
	c.domain = t.Domain
	if c.domain == "" || strings.EqualFold(c.domain, host) {
		c.domain, c.domainPort = host, port
	} else {
		c.route = &sip.RouteHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: port, UriParams: sip.NewParams()}}
		c.route.Address.UriParams.Add("lr", "")
		if t.Transport != "udp" {
			c.route.Address.UriParams.Add("transport", t.Transport)
		}
	}

	tlsConf := t.TLSConfig
	if tlsConf == nil && t.Transport == "tls" {
		tlsConf = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent("otpgate"),
		sipgo.WithUserAgentHostname(c.domain),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(c.log),
			sip.WithTransactionLayerTerminateOnConnClose(),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				c.log.Debug("sip: response outside any transaction", "status", r.StatusCode)
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(c.log)),
	}
	if tlsConf != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(tlsConf))
	}
	c.ua, err = sipgo.NewUA(uaOpts...)
	if err != nil {
		return nil, fmt.Errorf("sip: trunk %s: %w", t.Name, err)
	}
	c.srv, err = sipgo.NewServer(c.ua, sipgo.WithServerLogger(c.log))
	if err != nil {
		c.ua.Close()
		return nil, fmt.Errorf("sip: trunk %s: %w", t.Name, err)
	}

	cliOpts := []sipgo.ClientOption{sipgo.WithClientHostname(localIP.String()), sipgo.WithClientLogger(c.log)}
	c.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: t.From, Host: localIP.String(), UriParams: sip.NewParams()}}
	if t.Transport == "udp" {
		// One socket sends and receives all signalling: requests from
		// the far end (BYE) arrive where the Contact says.
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(localIP, 0).String())
		if err != nil {
			c.ua.Close()
			return nil, fmt.Errorf("sip: trunk %s: %w", t.Name, err)
		}
		c.sipConn = pc
		c.contact.Address.Port = pc.LocalAddr().(*net.UDPAddr).Port
		cliOpts = append(cliOpts, sipgo.WithClientConnectionAddr(pc.LocalAddr().String()))
	} else {
		c.contact.Address.UriParams.Add("transport", t.Transport)
	}
	c.cli, err = sipgo.NewClient(c.ua, cliOpts...)
	if err != nil {
		c.closeTransport()
		return nil, fmt.Errorf("sip: trunk %s: %w", t.Name, err)
	}
	c.dialogs = sipgo.NewDialogClientCache(c.cli, c.contact)
	c.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := c.dialogs.ReadBye(req, tx); err != nil {
			tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", nil))
		}
	})
	c.srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	if c.sipConn != nil {
		go c.srv.ServeUDP(c.sipConn)
		// Requests must go out on this socket: wait until sipgo has it.
		addr := c.sipConn.LocalAddr().String()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if conn, err := c.ua.TransportLayer().GetConnection("udp", addr); err == nil {
				conn.TryClose() // Get took a reference
				break
			}
			if time.Now().After(deadline) {
				c.closeTransport()
				return nil, fmt.Errorf("sip: trunk %s: signalling socket %s not served", t.Name, addr)
			}
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// pickLocalIP: the configured address, 127.0.0.1 for a loopback trunk, or
// the address the kernel would send to the trunk from.
func pickLocalIP(configured, host, addr string) (netip.Addr, error) {
	if configured != "" {
		ip, err := netip.ParseAddr(configured)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("local IP %q: %w", configured, err)
		}
		return ip.Unmap(), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
		return netip.AddrFrom4([4]byte{127, 0, 0, 1}), nil
	}
	conn, err := net.Dial("udp", addr) // no packet is sent
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the outbound interface: %w", err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// Trunk returns the trunk with its defaults filled in.
func (c *Client) Trunk() Trunk { return c.t }

// PacingStats returns the median and 99th percentile of how late RTP
// packets of this client left against their ideal 20 ms schedule, over
// every packet sent since NewClient (10 µs resolution).
func (c *Client) PacingStats() (p50, p99 time.Duration) {
	q, _, _ := c.hist.quantiles(0.5, 0.99)
	return q[0], q[1]
}

// PacingSummary is PacingStats with the number of packets and the worst
// case.
func (c *Client) PacingSummary() (p50, p99, max time.Duration, packets uint64) {
	q, n, mx := c.hist.quantiles(0.5, 0.99)
	return q[0], q[1], mx, n
}

// Close hangs up the calls in progress (CANCEL or BYE), waits for them
// (10 s at most) and closes the signalling sockets. Place fails
// with ErrClosed afterwards.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel()
		done := make(chan struct{})
		go func() {
			c.calls.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(byeTimeout):
			c.log.Warn("sip: closing with calls still hanging up")
		}
		c.closeTransport()
	})
	return nil
}

func (c *Client) closeTransport() {
	c.ua.Close()
	if c.sipConn != nil {
		c.sipConn.Close()
	}
}

// Place calls call.To, plays the audio when answered and hangs up. See the
// package comment. The error is a *CallError for failures (Outcome failed)
// and for a ctx cancelled while ringing (Outcome no_answer); busy and no
// answer are outcomes with a nil error. An answered call hung up early by
// ctx returns its Result (EndedBy canceled) and a nil error.
func (c *Client) Place(ctx context.Context, call Call) (res Result, err error) {
	res.Outcome = OutcomeFailed
	if call.To == "" || len(call.Audio) == 0 && len(call.AudioALaw) == 0 {
		return res, callError(c.t.Name, "sip_bad_call", true, errors.New("a call needs a number and audio"))
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return res, callError(c.t.Name, "sip_closed", false, ErrClosed)
	}
	c.calls.Add(1)
	c.mu.Unlock()
	defer c.calls.Done()

	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	default:
		return res, callError(c.t.Name, "sip_capacity", false, fmt.Errorf("trunk at its limit of %d concurrent calls", c.t.MaxCalls))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(c.ctx, func() { cancel(ErrClosed) })
	defer stop()
	if err := c.cps.Wait(ctx); err != nil {
		return res, callError(c.t.Name, "sip_canceled", true, context.Cause(ctx))
	}

	res.Started = time.Now()
	c.m.attempted.Inc()
	c.m.inProgress.Inc()
	defer func() {
		c.m.inProgress.Dec()
		c.m.outcome(res.Outcome).Inc()
		if res.Outcome == OutcomeAnswered {
			c.m.duration.Update(res.Ended.Sub(res.Answered).Seconds())
		}
	}()

	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(c.localIP, 0)))
	if err != nil {
		res.Ended = time.Now()
		return res, callError(c.t.Name, "sip_transport", false, fmt.Errorf("RTP socket: %w", err))
	}
	defer rtpConn.Close()
	offer := sdp.Write("otpgate", sessionID(), sdp.Session{
		Addr: c.localIP, Port: rtpConn.LocalAddr().(*net.UDPAddr).Port,
		Formats: []int{sdp.PCMU, sdp.PCMA},
	})
	req := c.newInvite(call.To, call.CallID, offer)
	res.CallID = req.CallID().Value()
	log := c.log.With("call_id", res.CallID)

	connCtx, connCancel := context.WithTimeout(ctx, c.t.ResponseTimeout)
	dt, err := c.dialogs.WriteInvite(connCtx, req)
	connCancel()
	if err != nil {
		res.Ended = time.Now()
		if ctx.Err() != nil {
			return res, callError(c.t.Name, "sip_canceled", true, context.Cause(ctx))
		}
		log.Warn("sip: INVITE not sent", "err", err)
		return res, callError(c.t.Name, "sip_transport", false, err)
	}
	defer dt.Close()

	werr, why := c.waitAnswer(ctx, dt)
	if werr != nil {
		return c.notAnswered(ctx, log, dt, res, werr, why)
	}

	// Answered.
	res.Answered = time.Now()
	res.SIPStatus = dt.InviteResponse.StatusCode
	if err := dt.Ack(context.Background()); err != nil {
		log.Warn("sip: ACK not sent", "err", err)
	}
	pt, remote, perr := answerMedia(dt.InviteResponse.Body())
	if perr != nil {
		log.Warn("sip: unusable SDP answer; hanging up", "err", perr)
		c.bye(log, dt)
		res.Ended = time.Now()
		return res, callError(c.t.Name, "sip_sdp", false, perr)
	}
	res.Outcome = OutcomeAnswered
	res.Codec = sdp.CodecName(pt)
	audio := call.Audio
	switch {
	case pt == sdp.PCMA && call.AudioALaw != nil:
		audio = call.AudioALaw
	case pt == sdp.PCMA:
		audio = g711.Ulaw2Alaw(call.Audio)
	case call.Audio == nil:
		audio = g711.Alaw2Ulaw(call.AudioALaw)
	}

	var readerDone chan struct{}
	if call.OnRTP != nil {
		readerDone = make(chan struct{})
		go func() {
			defer close(readerDone)
			buf := make([]byte, 1500)
			for {
				n, _, err := rtpConn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				call.OnRTP(buf[:n])
			}
		}()
	}

	st := newStream(rtpConn, remote, uint8(pt), audio, c.hist, c.m)
	thePacer.add(st)
	res.EndedBy = EndedCompleted
	select {
	case <-st.done:
		tail := time.NewTimer(tailDelay)
		select {
		case <-tail.C:
		case <-ctx.Done():
		case <-dt.Context().Done():
			res.EndedBy = EndedRemote
		}
		tail.Stop()
	case <-ctx.Done():
		res.EndedBy = EndedCanceled
	case <-dt.Context().Done():
		res.EndedBy = EndedRemote
	}
	thePacer.stop(st)
	res.RTPPackets = int(st.sent.Load())
	if res.EndedBy != EndedRemote {
		c.bye(log, dt)
	}
	if readerDone != nil {
		rtpConn.Close()
		<-readerDone
	}
	res.Ended = time.Now()
	return res, nil
}

// Reasons waitAnswer gave up.
const (
	stopNone int32 = iota
	stopRing
	stopNoResponse
	stopCanceled
)

// waitAnswer waits for the final response to the INVITE, answering digest
// challenges. It gives up after the ring timeout (CANCEL), when ctx ends
// (CANCEL), or when the trunk has said nothing for ResponseTimeout. A
// CANCEL may only follow a response: when ctx ends before any, it waits
// for one until ResponseTimeout; without one the transaction is dropped.
func (c *Client) waitAnswer(ctx context.Context, dt *sipgo.DialogClientSession) (error, int32) {
	var why atomic.Int32
	responded := make(chan struct{})
	var once sync.Once
	waitCtx, stopWait := context.WithCancelCause(context.Background())
	defer stopWait(nil)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		ring := time.NewTimer(c.t.RingTimeout)
		defer ring.Stop()
		first := time.NewTimer(c.t.ResponseTimeout)
		defer first.Stop()
		gotResponse := func() bool {
			select {
			case <-responded:
				return true
			default:
				return false
			}
		}
		giveUp := func(reason int32) {
			why.Store(reason)
			if gotResponse() {
				stopWait(nil) // sipgo sends CANCEL and waits for the 487
			} else {
				stopWait(sipgo.WaitAnswerForceCancelErr) // nothing to CANCEL yet
			}
		}
		select {
		case <-finished:
		case <-first.C:
			if gotResponse() {
				break
			}
			giveUp(stopNoResponse)
			return
		case <-ring.C:
			if gotResponse() {
				giveUp(stopRing)
			} else {
				giveUp(stopNoResponse)
			}
			return
		case <-ctx.Done():
			if !gotResponse() {
				select { // give the trunk its response time, so the CANCEL can go
				case <-responded:
				case <-first.C:
				case <-finished:
					return
				}
			}
			giveUp(stopCanceled)
			return
		}
		select { // responded before the response timeout: ring
		case <-finished:
		case <-ring.C:
			giveUp(stopRing)
		case <-ctx.Done():
			giveUp(stopCanceled)
		}
	}()
	err := dt.WaitAnswer(waitCtx, sipgo.AnswerOptions{
		OnResponse: func(r *sip.Response) error {
			once.Do(func() { close(responded) })
			return nil
		},
		Username: c.t.Username,
		Password: c.t.Password,
	})
	if err == nil {
		return nil, stopNone
	}
	return err, why.Load()
}

// notAnswered turns a failed wait for the answer into the call's Result
// and error.
func (c *Client) notAnswered(ctx context.Context, log *slog.Logger, dt *sipgo.DialogClientSession, res Result, err error, why int32) (Result, error) {
	defer func() { res.Ended = time.Now() }()
	last := dt.InviteResponse
	if last != nil && !last.IsProvisional() {
		res.SIPStatus = last.StatusCode
	}
	if last != nil && last.IsSuccess() {
		// Answered just as we cancelled: take the call and hang up.
		if aerr := dt.Ack(context.Background()); aerr == nil {
			c.bye(log, dt)
		}
	}
	var dre *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &dre):
		code := dre.Res.StatusCode
		res.SIPStatus = code
		switch code {
		case sip.StatusBusyHere, sip.StatusGlobalBusyEverywhere, sip.StatusGlobalDecline:
			res.Outcome = OutcomeBusy
			return res, nil
		case sip.StatusTemporarilyUnavailable, sip.StatusRequestTimeout, sip.StatusRequestTerminated:
			res.Outcome = OutcomeNoAnswer
			return res, nil
		}
		if code >= 500 && code < 600 {
			log.Warn("sip: trunk refused the call", "status", code)
		} else {
			log.Info("sip: call refused", "status", code)
		}
		res.Outcome = OutcomeFailed
		return res, statusError(c.t.Name, code, dre.Res.Reason)
	case why == stopRing:
		res.Outcome = OutcomeNoAnswer
		return res, nil
	case why == stopCanceled:
		res.Outcome = OutcomeNoAnswer
		return res, callError(c.t.Name, "sip_canceled", true, context.Cause(ctx))
	case why == stopNoResponse:
		log.Warn("sip: no response to INVITE", "after", c.t.ResponseTimeout)
		res.Outcome = OutcomeFailed
		return res, callError(c.t.Name, "sip_no_response", false, fmt.Errorf("no response to INVITE within %s", c.t.ResponseTimeout))
	}
	log.Warn("sip: INVITE failed", "err", err)
	res.Outcome = OutcomeFailed
	return res, callError(c.t.Name, "sip_transport", false, err)
}

func (c *Client) bye(log *slog.Logger, dt *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := dt.Bye(ctx); err != nil {
		log.Warn("sip: BYE failed", "err", err)
	}
}

// answerMedia reads the codec and the RTP address from an SDP answer.
func answerMedia(body []byte) (pt int, remote netip.AddrPort, err error) {
	s, err := sdp.Parse(body)
	if err != nil {
		return 0, remote, err
	}
	pt = sdp.Choose(s.Formats, sdp.PCMU, sdp.PCMA)
	if pt < 0 {
		return 0, remote, fmt.Errorf("answer has neither PCMU nor PCMA (formats %v)", s.Formats)
	}
	if s.Port == 0 || !s.Addr.IsValid() || s.Addr.IsUnspecified() {
		return 0, remote, errors.New("answer has no RTP address (port 0 or 0.0.0.0)")
	}
	return pt, netip.AddrPortFrom(s.Addr.Unmap(), uint16(s.Port)), nil
}

func (c *Client) newInvite(to, id string, body []byte) *sip.Request {
	ruri := sip.Uri{Scheme: "sip", User: to, Host: c.domain, Port: c.domainPort, UriParams: sip.NewParams()}
	if c.t.Transport != "udp" && c.route == nil {
		ruri.UriParams.Add("transport", c.t.Transport)
	}
	req := sip.NewRequest(sip.INVITE, ruri)
	req.SetTransport(c.transport)
	req.SetDestination(c.t.Addr)
	if c.route != nil {
		req.AppendHeader(sip.HeaderClone(c.route))
	}
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: c.t.From, Host: c.domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	if id == "" {
		id = newCallID()
	}
	callID := sip.CallIDHeader(id)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: to, Host: c.domain}, Params: sip.NewParams()})
	req.AppendHeader(sip.HeaderClone(&c.contact)) // a copy: sipgo fills in its port per call
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS"))
	req.AppendHeader(sip.NewHeader("User-Agent", "otpgate"))
	ct := sip.ContentTypeHeader("application/sdp")
	req.AppendHeader(&ct)
	req.SetBody(body)
	return req
}

// newCallID is 128 random bits in hex (no host part: it would say nothing).
func newCallID() string {
	var b [16]byte
	randRead(b[:])
	return hex.EncodeToString(b[:])
}

func sessionID() uint64 {
	var b [8]byte
	randRead(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 2
}

func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
}

// callRate spaces calls 1/cps apart with no burst, or is nil for no limit.
func callRate(cps float64) *tokenbucket.Bucket {
	if cps <= 0 {
		return nil
	}
	return tokenbucket.New(cps, 1, time.Now())
}
