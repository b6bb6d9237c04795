package smsc_test

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/otpgate/otpgate/smpp"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// Tests of the simulator's fault and behaviour knobs. The client side is raw
// PDUs (go-smpp's codec), so the knobs are seen exactly as an ESME sees them.

const (
	statusThrottled pdu.Status = 0x58
	statusInvDstAdr pdu.Status = 0x0B
	statusMsgQFul   pdu.Status = 0x14
)

// readWithin reads the next PDU, failing the test if none comes within d.
func (e *esme) readWithin(d time.Duration) pdu.Body {
	e.t.Helper()
	_ = e.conn.SetReadDeadline(time.Now().Add(d))
	p, err := smpp.ReadPDU(e.br)
	if err != nil {
		e.t.Fatalf("read: %v", err)
	}
	return p
}

// expectNothing checks that no PDU arrives within d.
func (e *esme) expectNothing(d time.Duration) {
	e.t.Helper()
	_ = e.conn.SetReadDeadline(time.Now().Add(d))
	if p, err := smpp.ReadPDU(e.br); err == nil {
		e.t.Fatalf("unexpected %s seq %d %s", smpp.CommandName(p.Header().ID), p.Header().Seq, smpp.StatusName(p.Header().Status))
	}
}

// submitText sends a submit_sm of text to to and returns its sequence number
// without waiting for the response.
func (e *esme) submitText(to, text string, registered uint8) uint32 {
	e.t.Helper()
	dc, payload := smpp.Encode(text)
	return e.send(submitSM("Otpgate", 5, to, dc, payload, registered))
}

// ack answers a deliver_sm.
func (e *esme) ack(p pdu.Body) {
	e.t.Helper()
	b, err := smpp.MarshalPDU(pdu.NewDeliverSMResp(), p.Header().Seq, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sendRaw(b)
}

// receipt reads the next PDU, which must be a receipt, acknowledges it and
// returns its text id, stat, receipted_message_id and message_state.
type gotReceipt struct {
	textID, stat, tlvID string
	state               byte
}

func (e *esme) receipt() gotReceipt {
	e.t.Helper()
	p := e.read()
	if p.Header().ID != pdu.DeliverSMID {
		e.t.Fatalf("got %s, want a receipt deliver_sm", smpp.CommandName(p.Header().ID))
	}
	e.ack(p)
	var r gotReceipt
	for _, f := range strings.Fields(string(smpp.FieldBytes(p, pdufield.ShortMessage))) {
		if v, ok := strings.CutPrefix(f, "id:"); ok {
			r.textID = v
		}
		if v, ok := strings.CutPrefix(f, "stat:"); ok {
			r.stat = v
		}
	}
	if v, ok := smpp.TLVBytes(p, pdutlv.TagReceiptedMessageID); ok {
		r.tlvID = strings.TrimSuffix(string(v), "\x00")
	}
	if v, ok := smpp.TLVBytes(p, pdutlv.TagMessageStateOption); ok && len(v) == 1 {
		r.state = v[0]
	}
	return r
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNewValidatesKnobs(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  smsc.Config
		want string
	}{
		{"negative jitter", smsc.Config{SubmitJitter: -time.Millisecond}, "Config.SubmitJitter"},
		{"negative window", smsc.Config{Window: -1}, "Config.Window"},
		{"negative tps", smsc.Config{TPS: -1}, "Config.TPS"},
		{"negative drop every", smsc.Config{DropEvery: -2}, "Config.DropEvery"},
		{"negative drop after", smsc.Config{DropAfter: -time.Second}, "Config.DropAfter"},
		{"undelivered part", smsc.Config{UndeliveredPart: -1}, "Config.UndeliveredPart"},
		{"id format", smsc.Config{IDFormat: "base64"}, "Config.IDFormat"},
		{"id format same", smsc.Config{IDFormat: "same"}, "Config.IDFormat"},
		{"receipt id format", smsc.Config{ReceiptIDFormat: "octal"}, "Config.ReceiptIDFormat"},
		{"rule prefix", smsc.Config{Rules: []smsc.Rule{{Prefix: "+44x", Receipt: "UNDELIV"}}}, "Config.Rules"},
		{"rule receipt", smsc.Config{Rules: []smsc.Rule{{Prefix: "+44", Receipt: "LOST"}}}, "Config.Rules"},
		{"rule that does nothing", smsc.Config{Rules: []smsc.Rule{{Prefix: "+44"}}}, "Config.Rules"},
		{"two rules for one prefix", smsc.Config{Rules: []smsc.Rule{{Prefix: "+44", NoResponse: true}, {Prefix: "44", Status: 8}}}, "Config.Rules"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := smsc.New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestParseRule(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    smsc.Rule
		wantErr bool
	}{
		{in: "+3900=status:0x0B", want: smsc.Rule{Prefix: "+3900", Status: 0x0B}},
		{in: "44=receipt:undeliv", want: smsc.Rule{Prefix: "44", Receipt: "UNDELIV"}},
		{in: " +1555 = noresponse ", want: smsc.Rule{Prefix: "+1555", NoResponse: true}},
		{in: "+49=status:ESME_RMSGQFUL", want: smsc.Rule{Prefix: "+49", Status: 0x14}},
		{in: "+49=status:88", want: smsc.Rule{Prefix: "+49", Status: 0x58}},
		{in: "+=receipt:EXPIRED", want: smsc.Rule{Prefix: "+", Receipt: "EXPIRED"}},
		{in: "+33=receipt:REJECTD,status:0x45", want: smsc.Rule{Prefix: "+33", Receipt: "REJECTD", Status: 0x45}},
		{in: "+44", wantErr: true},
		{in: "+44=", wantErr: true},
		{in: "+44=status:0", wantErr: true},
		{in: "+44=status:ESME_RNOPE", wantErr: true},
		{in: "+44=receipt:LOST", wantErr: true},
		{in: "+44=explode", wantErr: true},
		{in: "+44=noresponse:yes", wantErr: true},
		{in: "+4a=noresponse", wantErr: true},
	} {
		got, err := smsc.ParseRule(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseRule(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if again, err := smsc.ParseRule(got.String()); err != nil || again != got {
			t.Errorf("ParseRule(%q.String() = %q) = %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		var cfg smsc.Config
		fs := flag.NewFlagSet("smsc-sim", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		want := smsc.Config{SystemID: smsc.DefaultSystemID, Password: smsc.DefaultPassword, ReceiptDelay: smsc.DefaultReceiptDelay,
			IDFormat: "hex", ReceiptIDFormat: "same", InboxSize: smsc.DefaultInboxSize, ReceiptQueue: smsc.DefaultReceiptQueue}
		if fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", want) {
			t.Fatalf("defaults %+v, want %+v", cfg, want)
		}
		var help strings.Builder
		fs.SetOutput(&help)
		fs.PrintDefaults()
		for _, name := range []string{"system-id", "password", "receipt-delay", "undelivered-share", "undelivered-part",
			"submit-delay", "submit-jitter", "window", "tps", "drop-every", "drop-after", "no-response", "rule",
			"id-format", "receipt-id-format", "inbox", "receipt-queue"} {
			if !strings.Contains(help.String(), "-"+name) {
				t.Errorf("no flag -%s", name)
			}
		}
		if !strings.Contains(help.String(), "(default 200ms)") {
			t.Errorf("receipt-delay default not shown:\n%s", help.String())
		}
	})
	t.Run("every knob", func(t *testing.T) {
		var cfg smsc.Config
		fs := flag.NewFlagSet("smsc-sim", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.RegisterFlags(fs)
		err := fs.Parse([]string{
			"-system-id", "carrier", "-password", "pw", "-receipt-delay", "0", "-undelivered-share", "0.25",
			"-undelivered-part", "2", "-submit-delay", "20ms", "-submit-jitter", "5ms", "-window", "50", "-tps", "1500.5",
			"-drop-every", "1000", "-drop-after", "1m", "-no-response", "-rule", "+3900=status:0x0B", "-rule", "+44=receipt:UNDELIV",
			"-id-format", "decimal", "-receipt-id-format", "hex", "-inbox", "77", "-receipt-queue", "9",
		})
		if err != nil {
			t.Fatal(err)
		}
		want := smsc.Config{SystemID: "carrier", Password: "pw", ReceiptDelay: time.Nanosecond, UndeliveredShare: 0.25,
			UndeliveredPart: 2, SubmitDelay: 20 * time.Millisecond, SubmitJitter: 5 * time.Millisecond, Window: 50, TPS: 1500.5,
			DropEvery: 1000, DropAfter: time.Minute, NoResponse: true,
			Rules:    []smsc.Rule{{Prefix: "+3900", Status: 0x0B}, {Prefix: "+44", Receipt: "UNDELIV"}},
			IDFormat: "decimal", ReceiptIDFormat: "hex", InboxSize: 77, ReceiptQueue: 9}
		if fmt.Sprintf("%+v", cfg) != fmt.Sprintf("%+v", want) {
			t.Fatalf("parsed %+v\nwant   %+v", cfg, want)
		}
		if _, err := smsc.New(cfg); err != nil {
			t.Fatalf("New rejects what the flags parsed: %v", err)
		}
		if err := fs.Parse([]string{"-rule", "+44=bogus"}); err == nil {
			t.Fatal("a bad -rule was accepted")
		}
	})
}

// TestRules: the longest matching prefix decides errors, receipt outcomes
// and silence.
func TestRules(t *testing.T) {
	var rules []smsc.Rule
	for _, r := range []string{"+3900=status:0x0B", "+39=receipt:UNDELIV", "+44=receipt:REJECTD", "+4420=receipt:EXPIRED",
		"+1555=noresponse", "+49=status:ESME_RMSGQFUL", "+3311=receipt:DELIVRD"} {
		rule, err := smsc.ParseRule(r)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, rule)
	}
	s := start(t, smsc.Config{ReceiptDelay: time.Millisecond, Rules: rules, UndeliveredShare: 1})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	for _, tt := range []struct {
		to     string
		status pdu.Status
		silent bool
		stat   string
		state  byte
	}{
		{to: "+390011122233", status: statusInvDstAdr},
		{to: "+391234567890", stat: "UNDELIV", state: 5},
		{to: "+447911123456", stat: "REJECTD", state: 8},
		{to: "+442071234567", stat: "EXPIRED", state: 3},
		{to: "+15550001234", silent: true},
		{to: "+4915112345678", status: statusMsgQFul},
		{to: "+33112345678", stat: "DELIVRD", state: 2},
		{to: "+33212345678", stat: "UNDELIV", state: 5}, // no rule: UndeliveredShare 1
	} {
		seq := e.submitText(tt.to, "Your code is 123456", 1)
		switch {
		case tt.silent:
			e.expectNothing(150 * time.Millisecond)
		case tt.status != 0:
			e.expect(pdu.SubmitSMRespID, seq, tt.status)
			e.expectNothing(30 * time.Millisecond) // no receipt
		default:
			p := e.expect(pdu.SubmitSMRespID, seq, 0)
			id := smpp.FieldString(p, pdufield.MessageID)
			r := e.receipt()
			if r.textID != id || r.tlvID != id || r.stat != tt.stat || r.state != tt.state {
				t.Errorf("%s: receipt %+v, want id %s stat %s state %d", tt.to, r, id, tt.stat, tt.state)
			}
		}
		stored := len(s.Messages(tt.to)) == 1
		if stored != (tt.status == 0 && !tt.silent) {
			t.Errorf("%s: stored = %v", tt.to, stored)
		}
	}
	// The receipt counter moves just after the write the client has read.
	waitFor(t, "5 receipts counted", func() bool { return s.Counters().Receipts == 5 })
	c := s.Counters()
	if c.Submits != 5 || c.Rejected != 2 || c.NoResponse != 1 || c.Receipts != 5 {
		t.Fatalf("counters %+v", c)
	}
}

// TestNoResponse: every submit_sm goes unanswered, but the link stays up.
func TestNoResponse(t *testing.T) {
	s := start(t, smsc.Config{NoResponse: true})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	e.submitText("+15550000700", "one", 1)
	e.submitText("+15550000701", "two", 1)
	seq := e.send(pdu.NewEnquireLink())
	e.expect(pdu.EnquireLinkRespID, seq, 0)
	e.expectNothing(100 * time.Millisecond)
	if c := s.Counters(); c.NoResponse != 2 || c.Submits != 0 || len(s.Messages("")) != 0 {
		t.Fatalf("counters %+v, inbox %d", c, len(s.Messages("")))
	}
}

// TestTPS: past the rate, submits are answered ESME_RTHROTTLED and neither
// stored nor receipted; the bucket refills with time.
func TestTPS(t *testing.T) {
	s := start(t, smsc.Config{TPS: 20, ReceiptDelay: time.Millisecond}) // burst: 2
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	burst := func(n int) (ok, throttled int) {
		var seqs []uint32
		for i := 0; i < n; i++ {
			seqs = append(seqs, e.submitText("+15550000800", "code 1234", 0))
		}
		for _, seq := range seqs {
			p := e.read()
			if h := p.Header(); h.ID != pdu.SubmitSMRespID || h.Seq != seq {
				t.Fatalf("got %s seq %d, want submit_sm_resp seq %d", smpp.CommandName(h.ID), h.Seq, seq)
			}
			switch st := p.Header().Status; st {
			case 0:
				ok++
			case statusThrottled:
				throttled++
			default:
				t.Fatalf("status %s", smpp.StatusName(st))
			}
		}
		return ok, throttled
	}
	// 10 at once: the burst of 2 passes (one or two more if a loaded
	// machine made the round take over 50ms), the rest is throttled.
	ok1, thr1 := burst(10)
	if ok1 < 2 || ok1 > 4 || ok1+thr1 != 10 {
		t.Fatalf("first burst: %d accepted, %d throttled", ok1, thr1)
	}
	time.Sleep(200 * time.Millisecond) // refills the bucket (capped at 2)
	ok2, thr2 := burst(10)
	if ok2 < 2 || ok2 > 4 {
		t.Fatalf("after a pause: %d accepted, %d throttled", ok2, thr2)
	}
	c := s.Counters()
	if c.Throttled != uint64(thr1+thr2) || c.Submits != uint64(ok1+ok2) || c.Rejected != 0 {
		t.Fatalf("counters %+v", c)
	}
	if n := len(s.Messages("+15550000800")); n != ok1+ok2 {
		t.Fatalf("%d stored, want %d", n, ok1+ok2)
	}
}

// TestWindow: with Window 1 and a slow SMSC, the session stops reading while
// one submit_sm is in progress: an enquire_link sent behind a second
// submit_sm is answered only once the first response freed the slot.
func TestWindow(t *testing.T) {
	const delay = 100 * time.Millisecond
	s := start(t, smsc.Config{Window: 1, SubmitDelay: delay, ReceiptDelay: -1})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	t0 := time.Now()
	s1 := e.submitText("+15550000900", "one", 0)
	s2 := e.submitText("+15550000900", "two", 0)
	el := e.send(pdu.NewEnquireLink())
	e.expect(pdu.SubmitSMRespID, s1, 0)
	e.expect(pdu.EnquireLinkRespID, el, 0)
	if d := time.Since(t0); d < delay {
		t.Fatalf("enquire_link answered after %v: the session read past a full window", d)
	}
	e.expect(pdu.SubmitSMRespID, s2, 0)
	if d := time.Since(t0); d < 2*delay {
		t.Fatalf("second response after %v, want at least %v", d, 2*delay)
	}

	// Window 3, 9 pipelined submits at 40ms each: three rounds.
	s3 := start(t, smsc.Config{Window: 3, SubmitDelay: 40 * time.Millisecond, ReceiptDelay: -1})
	e3 := dial(t, s3)
	e3.bind(pdu.BindTransmitterID)
	t0 = time.Now()
	for i := 0; i < 9; i++ {
		e3.submitText("+15550000901", "x", 0)
	}
	for i := 0; i < 9; i++ {
		e3.expect(pdu.SubmitSMRespID, uint32(i+2), 0)
	}
	if d := time.Since(t0); d < 120*time.Millisecond {
		t.Fatalf("9 submits through a window of 3 at 40ms took %v, want at least 120ms", d)
	}
}

// TestJitterAnswersOutOfOrder: with jitter, responses leave in due order,
// not arrival order; every submit is answered once.
func TestJitterAnswersOutOfOrder(t *testing.T) {
	s := start(t, smsc.Config{Window: 8, SubmitDelay: 5 * time.Millisecond, SubmitJitter: 60 * time.Millisecond, ReceiptDelay: -1})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	const n = 24
	ids := map[uint32]bool{}
	for i := 0; i < n; i++ {
		ids[e.submitText("+15550001000", fmt.Sprint("m", i), 0)] = true
	}
	var order []uint32
	for i := 0; i < n; i++ {
		p := e.read()
		h := p.Header()
		if h.ID != pdu.SubmitSMRespID || h.Status != 0 || !ids[h.Seq] {
			t.Fatalf("unexpected %s seq %d %s", smpp.CommandName(h.ID), h.Seq, smpp.StatusName(h.Status))
		}
		delete(ids, h.Seq)
		order = append(order, h.Seq)
	}
	if slices.IsSorted(order) {
		t.Fatalf("responses in arrival order despite jitter: %v", order)
	}
	if len(s.Messages("+15550001000")) != n {
		t.Fatal("not every message stored")
	}
}

// TestDropEvery: every Nth submit_sm closes its connection unanswered and
// unstored; the ones before it on the same connection are answered.
func TestDropEvery(t *testing.T) {
	s := start(t, smsc.Config{DropEvery: 3, ReceiptDelay: -1})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	// Pipelined: 1 and 2 answered, 3 drops the link.
	s1 := e.submitText("+15550001100", "one", 0)
	s2 := e.submitText("+15550001100", "two", 0)
	e.submitText("+15550001100", "three", 0)
	e.expect(pdu.SubmitSMRespID, s1, 0)
	e.expect(pdu.SubmitSMRespID, s2, 0)
	e.expectClosed()
	// The count goes on across sessions.
	e2 := dial(t, s)
	e2.bind(pdu.BindTransceiverID)
	e2.submit("+15550001100", "four", 0)
	e2.submit("+15550001100", "five", 0)
	e2.submitText("+15550001100", "six", 0)
	e2.expectClosed()
	var texts []string
	for _, m := range s.Messages("+15550001100") {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, ",") != "five,four,two,one" {
		t.Fatalf("inbox %v", texts)
	}
	waitFor(t, "both sessions gone", func() bool { return s.Sessions() == 0 })
	if c := s.Counters(); c.Dropped != 2 || c.Submits != 4 {
		t.Fatalf("counters %+v", c)
	}
}

// TestDropAfter: a bound session is closed DropAfter after its bind.
func TestDropAfter(t *testing.T) {
	s := start(t, smsc.Config{DropAfter: 80 * time.Millisecond, ReceiptDelay: -1})
	e := dial(t, s)
	t0 := time.Now()
	e.bind(pdu.BindTransceiverID)
	e.submit("+15550001200", "before the drop", 0)
	e.expectClosed()
	if d := time.Since(t0); d < 80*time.Millisecond {
		t.Fatalf("dropped after %v", d)
	}
	if c := s.Counters(); c.Dropped != 1 {
		t.Fatalf("counters %+v", c)
	}
}

// TestIDFormats: hex or decimal ids in submit_sm_resp, and receipts that
// report the same number in the same or the other base.
func TestIDFormats(t *testing.T) {
	for _, tt := range []struct {
		id, receipt         string
		idBase, receiptBase int
	}{
		{"", "", 16, 16},
		{"hex", "same", 16, 16},
		{"decimal", "same", 10, 10},
		{"hex", "decimal", 16, 10},
		{"decimal", "hex", 10, 16},
		{"decimal", "decimal", 10, 10},
	} {
		t.Run(tt.id+"/"+tt.receipt, func(t *testing.T) {
			s := start(t, smsc.Config{IDFormat: tt.id, ReceiptIDFormat: tt.receipt, ReceiptDelay: time.Millisecond})
			e := dial(t, s)
			e.bind(pdu.BindTransceiverID)
			var prev uint64
			for i := 0; i < 3; i++ {
				id := e.submit("+15550001300", "code", 1)
				r := e.receipt()
				n, err := strconv.ParseUint(id, tt.idBase, 64)
				if err != nil {
					t.Fatalf("id %q is not base %d: %v", id, tt.idBase, err)
				}
				if want := map[int]int{16: 16, 10: 19}[tt.idBase]; len(id) != want {
					t.Fatalf("id %q: %d digits, want %d", id, len(id), want)
				}
				rn, err := strconv.ParseUint(r.textID, tt.receiptBase, 64)
				if err != nil || rn != n || r.tlvID != r.textID {
					t.Fatalf("submit id %s, receipt ids %q (text) %q (TLV): not the same number in base %d", id, r.textID, r.tlvID, tt.receiptBase)
				}
				if tt.idBase == tt.receiptBase && r.textID != id {
					t.Fatalf("receipt id %q differs from %q", r.textID, id)
				}
				if m := s.Messages("+15550001300")[0]; m.ID != id || m.ReceiptID != r.textID {
					t.Fatalf("inbox ids %q/%q, want %q/%q", m.ID, m.ReceiptID, id, r.textID)
				}
				if n <= prev {
					t.Fatalf("ids not increasing: %d then %d", prev, n)
				}
				prev = n
			}
		})
	}
}

// part builds one submit_sm of a multipart message, its concatenation info
// carried by scheme.
func part(scheme string, to string, ref, total, seq int, dc byte, body []byte, registered uint8) pdu.Body {
	var payload []byte
	var esm uint8
	switch scheme {
	case "udh8":
		payload, esm = append([]byte{5, 0x00, 3, byte(ref), byte(total), byte(seq)}, body...), 0x40
	case "udh16":
		payload, esm = append([]byte{6, 0x08, 4, byte(ref >> 8), byte(ref), byte(total), byte(seq)}, body...), 0x40
	default:
		payload = body
	}
	p := submitSM("+15550009999", 1, to, dc, payload, registered)
	_ = p.Fields().Set(pdufield.ESMClass, esm)
	if scheme == "sar" {
		_ = p.TLVFields().Set(0x020C, []byte{byte(ref >> 8), byte(ref)})
		_ = p.TLVFields().Set(0x020E, uint8(total))
		_ = p.TLVFields().Set(0x020F, uint8(seq))
	}
	return p
}

// TestMultipart: parts are stored apart with their own ids and receipts, and
// joined into one inbox message when the last arrives, whatever the order;
// UndeliveredPart fails one part of each.
func TestMultipart(t *testing.T) {
	// "😀" is a surrogate pair: its two UTF-16 units straddle parts 1 and 2
	// of the UCS-2 message, which only decode right once joined.
	ucs2 := smpp.EncodeUCS2("Код: 1😀2")
	for _, tt := range []struct {
		name   string
		scheme string
		ref    int
		dc     byte
		bodies [][]byte
		order  []int // part numbers in sending order
		text   string
		enc    string
	}{
		{"udh8 gsm7", "udh8", 0xA7, 0, [][]byte{[]byte("Your code "), []byte("is 123456, "), []byte("valid 5 min")}, []int{1, 2, 3}, "Your code is 123456, valid 5 min", "gsm7"},
		{"udh16 gsm7 out of order", "udh16", 0xBEEF, 0, [][]byte{[]byte("first "), []byte("second")}, []int{2, 1}, "first second", "gsm7"},
		{"sar ucs2 split pair", "sar", 0x0102, 8, [][]byte{ucs2[:14], ucs2[14:]}, []int{2, 1}, "Код: 1😀2", "ucs2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var hooked []smsc.Message
			s := start(t, smsc.Config{ReceiptDelay: time.Millisecond, UndeliveredPart: 2, OnMessage: func(m smsc.Message) {
				mu.Lock()
				hooked = append(hooked, m)
				mu.Unlock()
			}})
			e := dial(t, s)
			e.bind(pdu.BindTransceiverID)
			const to = "+447700900123"
			total := len(tt.bodies)
			idOf := map[int]string{}
			stats := map[string]string{}
			for i, n := range tt.order {
				seq := e.send(part(tt.scheme, to, tt.ref, total, n, tt.dc, tt.bodies[n-1], 1))
				p := e.expect(pdu.SubmitSMRespID, seq, 0)
				idOf[n] = smpp.FieldString(p, pdufield.MessageID)
				r := e.receipt()
				stats[r.textID] = r.stat
				if i < total-1 && len(s.Messages(to)) != 0 {
					t.Fatalf("joined before the last part")
				}
			}
			msgs := s.Messages(to)
			if len(msgs) != 1 {
				t.Fatalf("%d inbox messages, want 1 joined", len(msgs))
			}
			m := msgs[0]
			var wantIDs []string
			for n := 1; n <= total; n++ {
				wantIDs = append(wantIDs, idOf[n])
				want := "DELIVRD"
				if n == 2 {
					want = "UNDELIV"
				}
				if stats[idOf[n]] != want {
					t.Errorf("part %d (id %s) receipt %q, want %s", n, idOf[n], stats[idOf[n]], want)
				}
			}
			if m.Text != tt.text || m.Encoding != tt.enc || m.Parts != total || !slices.Equal(m.PartIDs, wantIDs) ||
				m.ID != idOf[1] || m.Ref != tt.ref || m.Concat != tt.scheme || m.Part != 0 || m.From != "+15550009999" {
				t.Fatalf("joined %+v\nwant text %q, parts %d, ids %v", m, tt.text, total, wantIDs)
			}
			parts := s.Parts(to)
			if len(parts) != total {
				t.Fatalf("%d raw parts, want %d", len(parts), total)
			}
			for i, p := range parts { // newest first: reverse sending order
				n := tt.order[total-1-i]
				if p.Part != n || p.Parts != total || p.ID != idOf[n] || p.Ref != tt.ref || p.Concat != tt.scheme {
					t.Errorf("raw part %d: %+v", n, p)
				}
			}
			c := s.Counters()
			if c.Submits != uint64(total) || c.Parts != uint64(total) || c.Joined != 1 {
				t.Fatalf("counters %+v", c)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(hooked) != 1 || hooked[0].Text != tt.text {
				t.Fatalf("OnMessage got %+v, want only the joined message", hooked)
			}
		})
	}
}

// TestMultipartIncompleteAndSingles: an incomplete message stays out of the
// inbox; a resent part counts once; single messages have Parts 1.
func TestMultipartIncompleteAndSingles(t *testing.T) {
	s := start(t, smsc.Config{ReceiptDelay: -1})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	const to = "+447700900124"
	e.expect(pdu.SubmitSMRespID, e.send(part("udh8", to, 1, 3, 1, 0, []byte("a"), 0)), 0)
	e.expect(pdu.SubmitSMRespID, e.send(part("udh8", to, 1, 3, 1, 0, []byte("A"), 0)), 0) // resent
	e.expect(pdu.SubmitSMRespID, e.send(part("udh8", to, 1, 3, 2, 0, []byte("b"), 0)), 0)
	if len(s.Messages(to)) != 0 || len(s.Parts(to)) != 3 {
		t.Fatalf("incomplete: %d messages, %d parts", len(s.Messages(to)), len(s.Parts(to)))
	}
	e.expect(pdu.SubmitSMRespID, e.send(part("udh8", to, 1, 3, 3, 0, []byte("c"), 0)), 0)
	if m := s.Messages(to); len(m) != 1 || m[0].Text != "abc" {
		t.Fatalf("joined %+v", m)
	}
	// A header that announces one part is a single message.
	e.expect(pdu.SubmitSMRespID, e.send(part("udh8", to, 2, 1, 1, 0, []byte("single"), 0)), 0)
	id := e.submit(to, "plain", 0)
	m := s.Messages(to)
	if len(m) != 3 || m[0].Text != "plain" || m[0].Parts != 1 || !slices.Equal(m[0].PartIDs, []string{id}) || m[0].Concat != "" || m[1].Text != "single" {
		t.Fatalf("inbox %+v", m)
	}
	if c := s.Counters(); c.Parts != 4 || c.Joined != 1 || c.Submits != 6 {
		t.Fatalf("counters %+v", c)
	}
}

// BenchmarkSubmitPipelined measures the simulator's submit_sm throughput on
// one session with 50 submit_sm outstanding, without and with receipts, raw
// PDUs on the client side:
//
//	go test -run '^$' -bench SubmitPipelined ./smpp/smsc/
func BenchmarkSubmitPipelined(b *testing.B) {
	for _, receipts := range []bool{false, true} {
		b.Run(fmt.Sprintf("receipts=%v", receipts), func(b *testing.B) { benchSubmit(b, receipts) })
	}
}

func benchSubmit(b *testing.B, receipts bool) {
	cfg := smsc.Config{ReceiptDelay: -1, InboxSize: 1000}
	var registered uint8
	if receipts {
		cfg.ReceiptDelay, registered = time.Millisecond, 1
	}
	s, err := smsc.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := dial(b, s)
	e.bind(pdu.BindTransceiverID)
	_ = e.conn.SetDeadline(time.Time{}) // the helpers set deadlines for the bind
	dc, payload := smpp.Encode("Your code is 123456")
	frame, err := smpp.MarshalPDU(submitSM("Otpgate", 5, "447911000001", dc, payload, registered), 1, 0)
	if err != nil {
		b.Fatal(err)
	}
	const window = 50
	slots := make(chan struct{}, window)
	done := make(chan error, 1)
	want := b.N
	if receipts {
		want *= 2
	}
	b.ResetTimer()
	go func() {
		for i := 0; i < want; i++ {
			p, err := smpp.ReadPDU(e.br)
			if err != nil {
				done <- err
				return
			}
			if p.Header().ID == pdu.SubmitSMRespID {
				<-slots
			}
		}
		done <- nil
	}()
	w := make([]byte, 0, 64<<10)
	for i := 0; i < b.N; i++ {
		slots <- struct{}{}
		w = append(w, frame...)
		if len(slots) == window || i == b.N-1 || len(w) > 32<<10 {
			if _, err := e.conn.Write(w); err != nil {
				b.Fatal(err)
			}
			w = w[:0]
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submit_sm/s")
}

// OnReceiptAcked reports each acknowledged receipt with its message and
// times; a refused acknowledgement is not reported.
func TestOnReceiptAcked(t *testing.T) {
	type acked struct {
		to          string
		sent, ackAt time.Time
	}
	got := make(chan acked, 4)
	s := start(t, smsc.Config{ReceiptDelay: time.Millisecond, OnReceiptAcked: func(m smsc.Message, sent, at time.Time) {
		got <- acked{m.To, sent, at}
	}})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	e.submit("+447911123456", "code 1", 1)
	p := e.read()
	if p.Header().ID != pdu.DeliverSMID {
		t.Fatalf("got %s, want deliver_sm", smpp.CommandName(p.Header().ID))
	}
	time.Sleep(5 * time.Millisecond)
	e.ack(p)
	select {
	case a := <-got:
		if a.to != "+447911123456" || a.ackAt.Sub(a.sent) < 5*time.Millisecond {
			t.Fatalf("reported %+v: want the number and at least the 5ms the ack took", a)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("acknowledged receipt not reported")
	}
	// a deliver_sm_resp with an error status is no acknowledgement
	e.submit("+447911123457", "code 2", 1)
	p = e.read()
	b, _ := smpp.MarshalPDU(pdu.NewDeliverSMResp(), p.Header().Seq, 0x08)
	e.sendRaw(b)
	select {
	case a := <-got:
		t.Fatalf("refused receipt reported: %+v", a)
	case <-time.After(100 * time.Millisecond):
	}
}
