package smpp_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/otpgate/otpgate/smpp"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// testLog logs to stderr only with -v, so failures can be read.
func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func startSim(t *testing.T, cfg smsc.Config, addr string) *smsc.Server {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testLog(t)
	}
	s, err := smsc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := s.Listen(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// clientSeq makes client names unique even when a test runs again (-count).
var clientSeq atomic.Int64

// clientCfg returns a config with short timings for tests; names are unique
// per test and run so metrics do not mix.
func clientCfg(t *testing.T, addr string) smpp.Config {
	return smpp.Config{
		Name:          fmt.Sprintf("%s.%d", strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()), clientSeq.Add(1)),
		Addr:          addr,
		SystemID:      smsc.DefaultSystemID,
		Password:      smsc.DefaultPassword,
		Window:        5,
		EnquireLink:   time.Second,
		SubmitTimeout: 3 * time.Second,
		BindTimeout:   time.Second,
		ReconnectMin:  20 * time.Millisecond,
		ReconnectMax:  200 * time.Millisecond,
	}
}

// runClient starts Run and stops it at cleanup, failing if Run does not
// return in time. The returned stop function stops it early.
func runClient(t *testing.T, cfg smpp.Config, onReceipt func(smpp.Receipt)) (*smpp.Client, func()) {
	t.Helper()
	c, err := smpp.NewClient(cfg, onReceipt, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return within 5s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewClientValidates(t *testing.T) {
	good := smpp.Config{Name: "a", Addr: "127.0.0.1:2775", SystemID: "x"}
	tests := []struct {
		mutate func(*smpp.Config)
		want   string
	}{
		{func(c *smpp.Config) { c.Name = "" }, "Config.Name"},
		{func(c *smpp.Config) { c.Name = `a"b` }, "Config.Name"},
		{func(c *smpp.Config) { c.Addr = "" }, "Config.Addr"},
		{func(c *smpp.Config) { c.Addr = "nohostport" }, "Config.Addr"},
		{func(c *smpp.Config) { c.SystemID = "" }, "Config.SystemID"},
		{func(c *smpp.Config) { c.Password = "123456789" }, "Config.Password"},
		{func(c *smpp.Config) { c.Window = -1 }, "Config.Window"},
		{func(c *smpp.Config) { c.SubmitTimeout = -time.Second }, "Config.SubmitTimeout"},
		{func(c *smpp.Config) { c.ReconnectMin = time.Minute; c.ReconnectMax = time.Second }, "Config.ReconnectMax"},
		{func(c *smpp.Config) { c.ThrottleMin = time.Minute; c.ThrottleMax = time.Second }, "Config.ThrottleMax"},
		{func(c *smpp.Config) { c.Binds = []smpp.BindSpec{{Kind: "trx"}} }, "Config.Binds[0].Kind"},
		{func(c *smpp.Config) { c.Binds = []smpp.BindSpec{{Count: -1}} }, "Config.Binds[0].Count"},
		{func(c *smpp.Config) { c.Binds = []smpp.BindSpec{{Kind: smpp.BindReceiver, Count: 2}} }, "no transceiver or transmitter"},
		{func(c *smpp.Config) { c.Binds = []smpp.BindSpec{{Count: 65}} }, "at most 64"},
		{func(c *smpp.Config) { c.InterfaceVersion = 0x35 }, "Config.InterfaceVersion"},
		{func(c *smpp.Config) { c.AddressRange = strings.Repeat("1", 41) }, "Config.AddressRange"},
		{func(c *smpp.Config) { c.TPS = -1 }, "Config.TPS"},
		{func(c *smpp.Config) { c.BindTPS = -1 }, "BindTPS"},
		{func(c *smpp.Config) { c.Concat = "udh7" }, "Config.Concat"},
		{func(c *smpp.Config) { c.ReceiptIDs = "octal" }, "Config.ReceiptIDs"},
	}
	for _, tt := range tests {
		cfg := good
		tt.mutate(&cfg)
		_, err := smpp.NewClient(cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewClient(%+v) error = %v, want one naming %s", cfg, err, tt.want)
		}
	}
	if _, err := smpp.NewClient(good, nil, nil); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	// Defaults: one transceiver with the default window.
	c, err := smpp.NewClient(good, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Binds(); len(st) != 1 || st[0].Kind != smpp.BindTransceiver || st[0].Window != smpp.DefaultWindow || st[0].Bound {
		t.Fatalf("default binds %+v", st)
	}
	full := good
	full.Name = "full"
	full.Binds = []smpp.BindSpec{{Kind: smpp.BindTransmitter, Count: 3}, {Kind: smpp.BindReceiver}}
	full.InterfaceVersion, full.Concat, full.ReceiptIDs, full.TPS, full.BindTPS = 0x50, smpp.ConcatSAR, smpp.ReceiptIDsHex, 100, 30
	if c, err := smpp.NewClient(full, nil, nil); err != nil || len(c.Binds()) != 4 {
		t.Fatalf("NewClient(%+v): %v", full, err)
	}
}

func TestSubmitRejectsBadInputWithoutLink(t *testing.T) {
	c, err := smpp.NewClient(smpp.Config{Name: "nolink", Addr: "127.0.0.1:1", SystemID: "x"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Submit(ctx, smpp.Message{To: "+447911123456", Text: strings.Repeat("a", 10*153+1)}); !errors.Is(err, smpp.ErrTooLong) || !errors.Is(err, smpp.ErrInvalidMessage) {
		t.Errorf("1531 septets: %v, want ErrTooLong in ErrInvalidMessage", err)
	}
	if _, err := c.Send(ctx, smpp.Message{To: "+447911123456", Text: strings.Repeat("Д", 10*67+1)}); !errors.Is(err, smpp.ErrTooLong) || !errors.Is(err, smpp.ErrInvalidMessage) {
		t.Errorf("671 UCS-2 chars: %v, want ErrTooLong in ErrInvalidMessage", err)
	}
	if _, err := c.Submit(ctx, smpp.Message{To: "447911123456", Text: "hi"}); err == nil || !strings.Contains(err.Error(), "E.164") {
		t.Errorf("number without '+': %v", err)
	}
	if _, err := c.Submit(ctx, smpp.Message{From: "WayTooLongSender", To: "+447911123456", Text: "hi"}); err == nil || !strings.Contains(err.Error(), "at most 11") {
		t.Errorf("long sender: %v", err)
	}
	if _, err := c.Submit(ctx, smpp.Message{To: "+447911123456"}); err == nil {
		t.Errorf("empty text accepted")
	}
}

func TestBindRejected(t *testing.T) {
	sim := startSim(t, smsc.Config{}, "")
	for _, tt := range []struct {
		name             string
		systemID, passwd string
		status           pdu.Status
		text             string
	}{
		{"wrong password", smsc.DefaultSystemID, "wrong", smpp.StatusInvPaswd, "ESME_RINVPASWD"},
		{"wrong system id", "nobody", smsc.DefaultPassword, smpp.StatusInvSysID, "ESME_RINVSYSID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientCfg(t, sim.Addr())
			cfg.SystemID, cfg.Password = tt.systemID, tt.passwd
			before := sim.Counters().BindFailures
			c, _ := runClient(t, cfg, nil)

			// Submit waits for a bound session; it ends with the ctx.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := c.Submit(ctx, smpp.Message{To: "+447911123456", Text: "code 1"})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Submit error = %v, want context.DeadlineExceeded", err)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Submit error %q does not say why the link is down (%s)", err, tt.text)
			}
			var se *smpp.StatusError
			if err := c.LastError(); !errors.As(err, &se) || se.Status != tt.status || !strings.Contains(err.Error(), cfg.Addr) || !strings.Contains(err.Error(), tt.systemID) {
				t.Fatalf("LastError = %v, want a StatusError %s naming the address and system_id", err, tt.text)
			}
			if c.Bound() {
				t.Fatal("Bound() with a rejected bind")
			}
			// Run keeps retrying, with back-off.
			waitFor(t, 2*time.Second, "bind retries", func() bool { return sim.Counters().BindFailures >= before+3 })
		})
	}
}

func TestSubmitConcurrentWithReceipts(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: 20 * time.Millisecond, SubmitDelay: time.Millisecond}, "")
	var mu sync.Mutex
	receipts := map[string]smpp.Receipt{}
	dupReceipts := 0
	cfg := clientCfg(t, sim.Addr())
	cfg.Window = 5
	c, _ := runClient(t, cfg, func(r smpp.Receipt) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := receipts[r.MessageID]; dup {
			dupReceipts++
		}
		receipts[r.MessageID] = r
	})

	const n = 200
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("Your code is %06d", i)
	}
	texts[0] = "Ваш код 123456"
	texts[1] = "€[^ code 000001"
	ids := make([]string, n)
	errs := make([]error, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = c.Submit(ctx, smpp.Message{From: "Otpgate", To: fmt.Sprintf("+44790000%04d", i), Text: texts[i]})
		}()
	}
	wg.Wait()

	seen := map[string]int{}
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("submit %d: %v", i, errs[i])
		}
		if j, dup := seen[ids[i]]; dup || ids[i] == "" {
			t.Fatalf("submit %d got id %q, also given to %d", i, ids[i], j)
		}
		seen[ids[i]] = i
	}
	for i := 0; i < n; i++ {
		msgs := sim.Messages(fmt.Sprintf("+44790000%04d", i))
		if len(msgs) != 1 {
			t.Fatalf("inbox has %d messages for number %d, want 1", len(msgs), i)
		}
		m := msgs[0]
		if m.ID != ids[i] || m.Text != texts[i] || m.From != "Otpgate" {
			t.Fatalf("inbox message %d = {ID:%s From:%s Text:%q}, want {ID:%s From:Otpgate Text:%q}", i, m.ID, m.From, m.Text, ids[i], texts[i])
		}
		wantEnc := smpp.EncodingGSM7
		if i == 0 {
			wantEnc = smpp.EncodingUCS2
		}
		if m.Encoding != wantEnc {
			t.Fatalf("message %d encoding %s, want %s", i, m.Encoding, wantEnc)
		}
	}
	if got := len(sim.Messages("")); got != n {
		t.Fatalf("inbox holds %d messages, want %d", got, n)
	}
	// Messages also match without '+'.
	if got := sim.Messages("447900000007"); len(got) != 1 || got[0].ID != ids[7] {
		t.Fatalf("Messages without '+' = %+v", got)
	}

	waitFor(t, 5*time.Second, "a receipt for every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(receipts) >= n
	})
	mu.Lock()
	defer mu.Unlock()
	for i, id := range ids {
		r, ok := receipts[id]
		if !ok {
			t.Fatalf("no receipt for message %d (id %s)", i, id)
		}
		if r.Stat != smpp.StatDelivered || !r.Delivered || !r.Final || r.Err != "000" || r.SMSC != cfg.Name || r.SubmitDate.IsZero() || r.DoneDate.IsZero() {
			t.Fatalf("receipt %d = %+v", i, r)
		}
	}
	if len(receipts) != n || dupReceipts != 0 {
		t.Fatalf("%d receipts (%d duplicates) for %d messages", len(receipts), dupReceipts, n)
	}
}

func TestUndeliveredReceipts(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: 5 * time.Millisecond, UndeliveredShare: 1}, "")
	got := make(chan smpp.Receipt, 20)
	c, _ := runClient(t, clientCfg(t, sim.Addr()), func(r smpp.Receipt) { got <- r })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ids := map[string]bool{}
	for i := 0; i < 10; i++ {
		id, err := c.Submit(ctx, smpp.Message{From: "12345", To: "+15550001000", Text: "code"})
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	for i := 0; i < 10; i++ {
		select {
		case r := <-got:
			if !ids[r.MessageID] || r.Stat != smpp.StatUndeliverable || r.Delivered || !r.Final || r.Err == "000" {
				t.Fatalf("receipt %+v, want a final UNDELIV for one of our ids", r)
			}
			delete(ids, r.MessageID)
		case <-ctx.Done():
			t.Fatalf("only %d of 10 receipts", i)
		}
	}
}

// TestSubmitStatusError: refusals other than throttling come back at once,
// after one attempt; throttling is retried until the context ends, and the
// error then says both.
func TestSubmitStatusError(t *testing.T) {
	statuses := map[string]pdu.Status{
		"+15550000058": smpp.StatusThrottled,
		"+15550000014": smpp.StatusMsgQFul,
		"+15550000011": smpp.StatusInvDstAdr,
		"+15550000008": smpp.StatusSysErr,
		"+15550000045": smpp.StatusSubmitFail,
	}
	var mu sync.Mutex
	attempts := map[string]int{}
	sim := startSim(t, smsc.Config{SubmitStatus: func(m smsc.Message) pdu.Status {
		mu.Lock()
		attempts[m.To]++
		mu.Unlock()
		return statuses[m.To]
	}}, "")
	cfg := clientCfg(t, sim.Addr())
	cfg.ThrottleMin, cfg.ThrottleMax = 10*time.Millisecond, 40*time.Millisecond
	c, _ := runClient(t, cfg, nil)
	waitFor(t, 2*time.Second, "bind", c.Bound)
	for _, tt := range []struct {
		to                   string
		status               pdu.Status
		temporary, permanent bool
		retried              bool // sent again until the context ends
	}{
		{"+15550000058", smpp.StatusThrottled, true, false, true},
		{"+15550000014", smpp.StatusMsgQFul, true, false, true},
		{"+15550000011", smpp.StatusInvDstAdr, false, true, false},
		{"+15550000008", smpp.StatusSysErr, true, false, false},
		{"+15550000045", smpp.StatusSubmitFail, false, false, false},
	} {
		t.Run(smpp.StatusName(tt.status), func(t *testing.T) {
			const budget = 400 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), budget)
			defer cancel()
			start := time.Now()
			_, err := c.Submit(ctx, smpp.Message{To: tt.to, Text: "code"})
			took := time.Since(start)
			var se *smpp.StatusError
			if !errors.As(err, &se) || se.Status != tt.status || se.Temporary() != tt.temporary || se.Permanent() != tt.permanent || se.Command != pdu.SubmitSMID {
				t.Fatalf("Submit to %s: %v, want StatusError %s", tt.to, err, smpp.StatusName(tt.status))
			}
			if !strings.Contains(err.Error(), smpp.StatusName(tt.status)) {
				t.Errorf("error %q does not name the status", err)
			}
			mu.Lock()
			n := attempts[tt.to]
			mu.Unlock()
			if tt.retried {
				if !errors.Is(err, context.DeadlineExceeded) || took < budget || n < 3 {
					t.Fatalf("throttled submit: %v after %v and %d attempts, want retries until the deadline", err, took, n)
				}
				return
			}
			if n != 1 || took > budget/2 {
				t.Fatalf("%d attempts in %v, want one, at once", n, took)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Submit(ctx, smpp.Message{To: "+15550000012", Text: "code"}); err != nil {
		t.Fatalf("accepted destination failed: %v", err)
	}
}

// TestSMSCRestart: submits outstanding when the SMSC goes away fail with a
// LinkError saying they were sent; a Submit made while the link is down waits
// and succeeds once a new SMSC is up on the same address.
func TestSMSCRestart(t *testing.T) {
	sim := startSim(t, smsc.Config{SubmitDelay: 2 * time.Second, ReceiptDelay: -1}, "")
	addr := sim.Addr()
	cfg := clientCfg(t, addr)
	cfg.Window = 10
	c, _ := runClient(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := c.Submit(ctx, smpp.Message{To: "+15550002000", Text: fmt.Sprintf("code %d", i)})
			errs <- err
		}()
	}
	waitFor(t, 3*time.Second, "all submits at the SMSC", func() bool { s, _ := sim.Stats(); return s == n })
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		err := <-errs
		var le *smpp.LinkError
		if !errors.As(err, &le) || !le.Sent || !strings.Contains(err.Error(), "outcome unknown") {
			t.Fatalf("outstanding submit returned %v, want a LinkError with Sent", err)
		}
	}
	waitFor(t, time.Second, "client to notice the link is down", func() bool { return !c.Bound() })

	// Submit while down: it must wait, not fail.
	type res struct {
		id  string
		err error
	}
	later := make(chan res, 1)
	go func() {
		id, err := c.Submit(ctx, smpp.Message{To: "+15550002001", Text: "code after restart"})
		later <- res{id, err}
	}()
	select {
	case r := <-later:
		t.Fatalf("Submit while disconnected returned at once: %q, %v", r.id, r.err)
	case <-time.After(150 * time.Millisecond):
	}

	sim2 := startSim(t, smsc.Config{ReceiptDelay: -1}, addr)
	r := <-later
	if r.err != nil || r.id == "" {
		t.Fatalf("Submit after the SMSC came back: %q, %v", r.id, r.err)
	}
	if msgs := sim2.Messages("+15550002001"); len(msgs) != 1 || msgs[0].ID != r.id || msgs[0].Text != "code after restart" {
		t.Fatalf("new SMSC inbox: %+v", msgs)
	}
	if !c.Bound() || c.LastError() != nil {
		t.Fatalf("Bound=%v LastError=%v after reconnect", c.Bound(), c.LastError())
	}
	if _, err := c.Submit(ctx, smpp.Message{To: "+15550002002", Text: "code"}); err != nil {
		t.Fatal(err)
	}
}

func TestEnquireLinkKeepsLink(t *testing.T) {
	sim := startSim(t, smsc.Config{}, "")
	cfg := clientCfg(t, sim.Addr())
	cfg.EnquireLink = 20 * time.Millisecond
	cfg.EnquireLinkTimeout = 200 * time.Millisecond
	c, _ := runClient(t, cfg, nil)
	waitFor(t, 2*time.Second, "bind", c.Bound)
	waitFor(t, 3*time.Second, "10 enquire_links", func() bool { return sim.Counters().EnquireLinks >= 10 })
	if got := sim.Counters().Binds; got != 1 {
		t.Fatalf("%d binds: the link was dropped while enquire_link was answered", got)
	}
	if !c.Bound() {
		t.Fatal("not bound")
	}
}

func TestRunStopsWithUnbind(t *testing.T) {
	sim := startSim(t, smsc.Config{}, "")
	c, stop := runClient(t, clientCfg(t, sim.Addr()), nil)
	waitFor(t, 2*time.Second, "bind", c.Bound)
	start := time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %v to stop", d)
	}
	if got := sim.Counters().Unbinds; got != 1 {
		t.Fatalf("SMSC saw %d unbinds, want 1", got)
	}
	if c.Bound() {
		t.Fatal("still Bound after Run returned")
	}
	if _, err := c.Submit(context.Background(), smpp.Message{To: "+15550003000", Text: "x"}); !errors.Is(err, smpp.ErrClosed) {
		t.Fatalf("Submit after Run returned: %v, want ErrClosed", err)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
	waitFor(t, time.Second, "session gone at the SMSC", func() bool { return sim.Sessions() == 0 })
}

// TestSubmitWaitersReleasedOnStop: Submits waiting for a session when Run
// stops return ErrClosed instead of hanging.
func TestSubmitWaitersReleasedOnStop(t *testing.T) {
	cfg := clientCfg(t, "127.0.0.1:1") // nothing listens there
	c, stop := runClient(t, cfg, nil)
	var done atomic.Int32
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, err := c.Submit(context.Background(), smpp.Message{To: "+15550004000", Text: "x"})
			done.Add(1)
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if done.Load() != 0 {
		t.Fatal("Submit returned while the link was down")
	}
	if err := c.LastError(); err == nil || !strings.Contains(err.Error(), "connect to 127.0.0.1:1") {
		t.Fatalf("LastError = %v", err)
	}
	stop()
	for i := 0; i < 3; i++ {
		select {
		case err := <-errs:
			if !errors.Is(err, smpp.ErrClosed) {
				t.Fatalf("waiting Submit returned %v, want ErrClosed", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("waiting Submit not released by stop")
		}
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTextNeverLogged: the code must not appear in any log line, at any
// level, of the client or the simulator.
func TestTextNeverLogged(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim := startSim(t, smsc.Config{ReceiptDelay: time.Millisecond, Log: log}, "")
	got := make(chan smpp.Receipt, 2)
	c, err := smpp.NewClient(clientCfg(t, sim.Addr()), func(r smpp.Receipt) { got <- r }, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for _, text := range []string{"Your code is 987654", "Ваш код 987654"} {
		if _, err := c.Submit(ctx, smpp.Message{From: "Otpgate", To: "+447911123456", Text: text}); err != nil {
			t.Fatal(err)
		}
		<-got
	}
	cancel()
	<-done
	out := logs.String()
	if !strings.Contains(out, "message_id") {
		t.Fatalf("expected debug logs, got:\n%s", out)
	}
	for _, secret := range []string{"987654", "7911123"} {
		if strings.Contains(out, secret) {
			t.Fatalf("logs contain %q:\n%s", secret, out)
		}
	}
}
