package smpp_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/fiorix/go-smpp/smpp/pdu"

	"github.com/otpgate/otpgate/smpp"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// bindCounter sums a per-bind counter of the client's metrics over its binds.
func bindCounter(name, smscName string, binds int) uint64 {
	var n uint64
	for i := 0; i < binds; i++ {
		n += metrics.GetOrCreateCounter(fmt.Sprintf(`%s{smsc=%q,bind="%d"}`, name, smscName, i)).Get()
	}
	return n
}

// waitAllBound waits until every bind of c is bound.
func waitAllBound(t *testing.T, c *smpp.Client) {
	t.Helper()
	waitFor(t, 3*time.Second, "every bind bound", func() bool {
		for _, b := range c.Binds() {
			if !b.Bound {
				return false
			}
		}
		return true
	})
}

// TestBindKinds: several binds of each kind against the simulator. Submits
// go out on the transmitting binds only, spread over all of them; receipts
// come in on the receiving ones; every bind unbinds at the end.
func TestBindKinds(t *testing.T) {
	tests := []struct {
		name  string
		binds []smpp.BindSpec
		kinds []string // per index
	}{
		{"two transceivers", []smpp.BindSpec{{Kind: smpp.BindTransceiver, Count: 2}},
			[]string{"transceiver", "transceiver"}},
		{"transmitters and receivers", []smpp.BindSpec{{Kind: smpp.BindTransmitter, Count: 2}, {Kind: smpp.BindReceiver, Count: 2}},
			[]string{"transmitter", "transmitter", "receiver", "receiver"}},
		{"one of each with defaults", []smpp.BindSpec{{Kind: smpp.BindTransmitter}, {Kind: smpp.BindReceiver}, {}},
			[]string{"transmitter", "receiver", "transceiver"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim := startSim(t, smsc.Config{ReceiptDelay: 5 * time.Millisecond, SubmitDelay: 2 * time.Millisecond}, "")
			var mu sync.Mutex
			receipts := map[string]smpp.Receipt{}
			dups := 0
			cfg := clientCfg(t, sim.Addr())
			cfg.Binds = tt.binds
			cfg.Window = 2
			c, stop := runClient(t, cfg, func(r smpp.Receipt) {
				mu.Lock()
				defer mu.Unlock()
				if _, dup := receipts[r.MessageID]; dup {
					dups++
				}
				receipts[r.MessageID] = r
			})
			waitAllBound(t, c)
			states := c.Binds()
			if len(states) != len(tt.kinds) {
				t.Fatalf("%d binds, want %d", len(states), len(tt.kinds))
			}
			for i, st := range states {
				if st.Index != i || st.Kind != tt.kinds[i] || st.Window != 2 || st.LastError != nil || st.Since.IsZero() {
					t.Fatalf("bind %d state %+v, want kind %s", i, st, tt.kinds[i])
				}
			}
			if got := sim.Counters().Binds; got != uint64(len(tt.kinds)) {
				t.Fatalf("simulator saw %d binds, want %d", got, len(tt.kinds))
			}

			const n = 40
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ids := make([]string, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ids[i], errs[i] = c.Submit(ctx, smpp.Message{From: "Otpgate", To: fmt.Sprintf("+4479000%05d", i), Text: fmt.Sprintf("code %d", i)})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("submit %d: %v", i, err)
				}
			}
			waitFor(t, 5*time.Second, "a receipt for every message", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(receipts) >= n
			})
			mu.Lock()
			for i, id := range ids {
				r, ok := receipts[id]
				if !ok || !r.Delivered || r.SMSC != cfg.Name {
					t.Fatalf("message %d (id %s): receipt %+v", i, id, r)
				}
				if k := tt.kinds[r.Bind]; k == smpp.BindTransmitter {
					t.Fatalf("receipt for message %d came in on bind %d, a transmitter", i, r.Bind)
				}
			}
			if dups != 0 {
				t.Fatalf("%d duplicate receipts", dups)
			}
			mu.Unlock()
			var accepted, receipted uint64
			for i, st := range c.Binds() {
				accepted += st.Accepted
				receipted += st.Receipts
				switch tt.kinds[i] {
				case smpp.BindReceiver:
					if st.Accepted != 0 {
						t.Fatalf("receiver bind %d sent %d messages", i, st.Accepted)
					}
				default:
					if st.Accepted == 0 {
						t.Fatalf("transmitting bind %d sent nothing: submits are not spread", i)
					}
				}
				if tt.kinds[i] == smpp.BindTransmitter && st.Receipts != 0 {
					t.Fatalf("transmitter bind %d got %d receipts", i, st.Receipts)
				}
			}
			if accepted != n || receipted != n {
				t.Fatalf("binds accepted %d and received %d receipts, want %d each", accepted, receipted, n)
			}

			stop()
			if got := sim.Counters().Unbinds; got != uint64(len(tt.kinds)) {
				t.Fatalf("simulator saw %d unbinds, want one per bind (%d)", got, len(tt.kinds))
			}
			if c.Bound() {
				t.Fatal("still Bound after Run returned")
			}
		})
	}
}

// TestWindowPerBind: with a window of 5 on each of 2 binds and a slow SMSC,
// never more than 10 submit_sm are outstanding at the SMSC at once — and 10
// are, so both windows are used in full. Every submit waits for a slot and
// succeeds.
func TestWindowPerBind(t *testing.T) {
	const delay = 100 * time.Millisecond
	var mu sync.Mutex
	var arrivals []time.Time
	sim := startSim(t, smsc.Config{SubmitDelay: delay, ReceiptDelay: -1, SubmitStatus: func(smsc.Message) pdu.Status {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		return 0
	}}, "")
	cfg := clientCfg(t, sim.Addr())
	cfg.Binds = []smpp.BindSpec{{Count: 2}}
	cfg.Window = 5
	c, _ := runClient(t, cfg, nil)
	waitAllBound(t, c)

	const n = 60
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, n)
	var peakClient atomic.Int64
	done := make(chan struct{})
	go func() { // watch the client's own view of its windows meanwhile
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			total := 0
			for _, b := range c.Binds() {
				if b.Outstanding > b.Window {
					errs <- fmt.Errorf("bind %d has %d outstanding, window %d", b.Index, b.Outstanding, b.Window)
				}
				total += b.Outstanding
			}
			if int64(total) > peakClient.Load() {
				peakClient.Store(int64(total))
			}
		}
	}()
	for i := 0; i < n; i++ {
		go func() {
			_, err := c.Submit(ctx, smpp.Message{To: "+15550008000", Text: fmt.Sprintf("code %d", i)})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("submit: %v", err)
		}
	}
	close(done)

	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != n {
		t.Fatalf("the SMSC got %d submits, want %d", len(arrivals), n)
	}
	// A slot frees only when its response comes, SubmitDelay after the
	// submit arrived: submits arriving within less than that of each other
	// were all outstanding at once.
	peak := 0
	for i := range arrivals {
		k := 0
		for j := i; j < len(arrivals) && arrivals[j].Sub(arrivals[i]) < delay-10*time.Millisecond; j++ {
			k++
		}
		peak = max(peak, k)
	}
	if peak != 10 {
		t.Fatalf("at most %d submit_sm outstanding at the SMSC, want exactly 10 (2 binds × window 5)", peak)
	}
	if p := peakClient.Load(); p > 10 {
		t.Fatalf("the client saw %d outstanding", p)
	}
	for _, b := range c.Binds() {
		if b.Accepted < n/4 {
			t.Fatalf("bind %d sent only %d of %d", b.Index, b.Accepted, n)
		}
	}
}

// TestThrottledRetriedExactlyOnce: an SMSC that answers ESME_RTHROTTLED to
// its first submits. Every message is eventually acknowledged, and reaches
// the SMSC exactly once.
func TestThrottledRetriedExactlyOnce(t *testing.T) {
	const n, throttled = 40, 25
	var count atomic.Int32
	sim := startSim(t, smsc.Config{ReceiptDelay: -1, SubmitStatus: func(smsc.Message) pdu.Status {
		if count.Add(1) <= throttled {
			return smpp.StatusThrottled
		}
		return 0
	}}, "")
	cfg := clientCfg(t, sim.Addr())
	cfg.Binds = []smpp.BindSpec{{Count: 2}}
	cfg.ThrottleMin, cfg.ThrottleMax = 5*time.Millisecond, 20*time.Millisecond
	c, _ := runClient(t, cfg, nil)
	waitAllBound(t, c)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i], errs[i] = c.Submit(ctx, smpp.Message{To: fmt.Sprintf("+1555001%04d", i), Text: "code"})
		}()
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("submit %d: %v", i, errs[i])
		}
		msgs := sim.Messages(fmt.Sprintf("+1555001%04d", i))
		if len(msgs) != 1 || msgs[0].ID != ids[i] {
			t.Fatalf("message %d reached the SMSC %d times (%+v), want once with id %s", i, len(msgs), msgs, ids[i])
		}
	}
	if cn := sim.Counters(); cn.Submits != n || cn.Rejected != throttled {
		t.Fatalf("SMSC accepted %d and refused %d, want %d and %d", cn.Submits, cn.Rejected, n, throttled)
	}
	if p := bindCounter("otpgate_smpp_throttle_pauses_total", cfg.Name, 2); p == 0 {
		t.Fatal("no throttle pause counted")
	}
	var refused, ok uint64
	for i := 0; i < 2; i++ {
		refused += metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_submits_total{smsc=%q,bind="%d",status="ESME_RTHROTTLED"}`, cfg.Name, i)).Get()
		ok += metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_submits_total{smsc=%q,bind="%d",status="ok"}`, cfg.Name, i)).Get()
	}
	if refused != throttled || ok != n {
		t.Fatalf("submits_total: %d ESME_RTHROTTLED and %d ok, want %d and %d", refused, ok, throttled, n)
	}
}

// TestTPSLimits: the token buckets per SMSC and per bind hold the submit
// rate the SMSC sees to the configured TPS.
func TestTPSLimits(t *testing.T) {
	tests := []struct {
		name         string
		tps, bindTPS float64
		rate         float64 // submits a second over the client
	}{
		{"per SMSC", 40, 0, 40},
		{"per bind", 0, 20, 40},
		{"both with the SMSC tighter", 30, 100, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var arrivals []time.Time
			sim := startSim(t, smsc.Config{ReceiptDelay: -1, SubmitStatus: func(smsc.Message) pdu.Status {
				mu.Lock()
				arrivals = append(arrivals, time.Now())
				mu.Unlock()
				return 0
			}}, "")
			cfg := clientCfg(t, sim.Addr())
			cfg.Binds = []smpp.BindSpec{{Count: 2}}
			cfg.TPS, cfg.BindTPS = tt.tps, tt.bindTPS
			c, _ := runClient(t, cfg, nil)
			waitAllBound(t, c)
			const n = 30
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				go func() {
					_, err := c.Submit(ctx, smpp.Message{To: "+15550009000", Text: "code"})
					errs <- err
				}()
			}
			for i := 0; i < n; i++ {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
			span := arrivals[n-1].Sub(arrivals[0])
			// A burst of at most max(1, tps/20) per bucket goes at once; the
			// rest is spaced by the rate.
			if min := time.Duration(float64(n-4) / tt.rate * float64(time.Second)); span < min {
				t.Fatalf("%d submits in %v, want at least %v at %v/s", n, span, min, tt.rate)
			}
			if span > 3*time.Second {
				t.Fatalf("%d submits took %v at %v/s", n, span, tt.rate)
			}
		})
	}
}

// TestMultipartToSimulator: long texts reach the simulator as concatenated
// parts, each decoded on its own, that join into the text; Send returns an
// id per part.
func TestMultipartToSimulator(t *testing.T) {
	gsm400 := strings.Repeat("Your Acme code is 123456 [valid 5 min] €. ", 10)[:400]
	cyr100 := string([]rune(strings.Repeat("Ваш код подтверждения 123456. ", 4))[:100])
	var mu sync.Mutex
	parts := map[string][]smsc.Message{} // by destination, in arrival order
	sim := startSim(t, smsc.Config{ReceiptDelay: -1, SubmitStatus: func(m smsc.Message) pdu.Status {
		mu.Lock()
		parts[m.To] = append(parts[m.To], m)
		mu.Unlock()
		return 0
	}}, "")
	type tc struct {
		concat, text, encoding string
		parts                  int
	}
	var tests []tc
	for _, concat := range []string{smpp.ConcatUDH8, smpp.ConcatUDH16, smpp.ConcatSAR} {
		tests = append(tests, tc{concat, gsm400, smpp.EncodingGSM7, 3}, tc{concat, cyr100, smpp.EncodingUCS2, 2})
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%s %s", tt.concat, tt.encoding), func(t *testing.T) {
			cfg := clientCfg(t, sim.Addr())
			cfg.Concat = tt.concat
			cfg.Binds = []smpp.BindSpec{{Count: 2}}
			c, _ := runClient(t, cfg, nil)
			if enc, _, n := c.Segments(tt.text); enc != tt.encoding || n != tt.parts {
				t.Fatalf("Client.Segments = %s, %d parts; want %s, %d", enc, n, tt.encoding, tt.parts)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			to := fmt.Sprintf("+1555002%04d", i)
			sent, err := c.Send(ctx, smpp.Message{From: "Acme", To: to, Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			if sent.Parts != tt.parts || len(sent.IDs) != tt.parts || sent.Encoding != tt.encoding {
				t.Fatalf("Sent %+v, want %d %s parts", sent, tt.parts, tt.encoding)
			}
			mu.Lock()
			got := parts[to]
			mu.Unlock()
			if len(got) != tt.parts {
				t.Fatalf("the SMSC got %d parts, want %d", len(got), tt.parts)
			}
			var joined strings.Builder
			for k, m := range got {
				if m.Encoding != tt.encoding || m.From != "Acme" {
					t.Fatalf("part %d: encoding %s from %s", k+1, m.Encoding, m.From)
				}
				joined.WriteString(m.Text)
			}
			if joined.String() != tt.text {
				t.Fatalf("parts join to %q, want %q", joined.String(), tt.text)
			}
			if slices.Contains(sent.IDs, "") || len(slices.Compact(slices.Sorted(slices.Values(sent.IDs)))) != tt.parts {
				t.Fatalf("ids %q: want %d distinct", sent.IDs, tt.parts)
			}
			// The inbox has the message: as its parts, or joined.
			inbox := sim.Messages(to)
			var text strings.Builder
			for k := len(inbox) - 1; k >= 0; k-- { // oldest first
				text.WriteString(inbox[k].Text)
			}
			if text.String() != tt.text && !(len(inbox) > 0 && inbox[0].Text == tt.text) {
				t.Fatalf("inbox holds %d messages reading %q", len(inbox), text.String())
			}
			// Submit still works on a long text, and gives the first id.
			id, err := c.Submit(ctx, smpp.Message{To: to, Text: tt.text})
			if err != nil || id == "" {
				t.Fatalf("Submit of a long text: %q, %v", id, err)
			}
		})
	}
}

// TestLatin1ToSimulator: Config.Latin1 sends Latin-1 text as data_coding
// 0x03; without it the same text goes as UCS-2. GSM text stays GSM.
func TestLatin1ToSimulator(t *testing.T) {
	sim := startSim(t, smsc.Config{ReceiptDelay: -1}, "")
	tests := []struct {
		latin1   bool
		text     string
		encoding string
		dc       byte
	}{
		{true, "Olá, o seu código é 1234", "latin1", 0x03},
		{false, "Olá, o seu código é 1234", "ucs2", 0x08},
		{true, "Your code is 1234 €", "gsm7", 0x00},
		{true, "Ваш код 1234", "ucs2", 0x08},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d %s", i, tt.encoding), func(t *testing.T) {
			cfg := clientCfg(t, sim.Addr())
			cfg.Latin1 = tt.latin1
			c, _ := runClient(t, cfg, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			to := fmt.Sprintf("+1555003%04d", i)
			sent, err := c.Send(ctx, smpp.Message{To: to, Text: tt.text})
			if err != nil || sent.Encoding != tt.encoding {
				t.Fatalf("Send: %+v, %v; want encoding %s", sent, err, tt.encoding)
			}
			msgs := sim.Messages(to)
			if len(msgs) != 1 || msgs[0].Text != tt.text || msgs[0].Encoding != tt.encoding || msgs[0].DataCoding != tt.dc {
				t.Fatalf("inbox %+v, want %q as %s (0x%02X)", msgs, tt.text, tt.encoding, tt.dc)
			}
		})
	}
}
