package smsc_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
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

func start(t *testing.T, cfg smsc.Config) *smsc.Server {
	t.Helper()
	s, err := smsc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// esme is a scripted client.
type esme struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
	seq  uint32
}

func dial(t testing.TB, s *smsc.Server) *esme {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &esme{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (e *esme) send(p pdu.Body) uint32 {
	e.t.Helper()
	e.seq++
	b, err := smpp.MarshalPDU(p, e.seq, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sendRaw(b)
	return e.seq
}

func (e *esme) sendRaw(b []byte) {
	e.t.Helper()
	_ = e.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := e.conn.Write(b); err != nil {
		e.t.Fatal(err)
	}
}

func (e *esme) read() pdu.Body {
	e.t.Helper()
	_ = e.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	p, err := smpp.ReadPDU(e.br)
	if err != nil {
		e.t.Fatalf("read: %v", err)
	}
	return p
}

// expect reads the next PDU and checks its command, sequence and status.
func (e *esme) expect(id pdu.ID, seq uint32, status pdu.Status) pdu.Body {
	e.t.Helper()
	p := e.read()
	h := p.Header()
	if h.ID != id || h.Seq != seq || h.Status != status {
		e.t.Fatalf("got %s seq %d %s, want %s seq %d %s", smpp.CommandName(h.ID), h.Seq, smpp.StatusName(h.Status),
			smpp.CommandName(id), seq, smpp.StatusName(status))
	}
	return p
}

// expectClosed checks the server closed the connection.
func (e *esme) expectClosed() {
	e.t.Helper()
	_ = e.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := e.br.ReadByte(); !errors.Is(err, io.EOF) {
		e.t.Fatalf("connection not closed by the SMSC: %v", err)
	}
}

func bindPDU(kind pdu.ID, systemID, password string) pdu.Body {
	var p pdu.Body
	switch kind {
	case pdu.BindTransmitterID:
		p = pdu.NewBindTransmitter()
	case pdu.BindReceiverID:
		p = pdu.NewBindReceiver()
	default:
		p = pdu.NewBindTransceiver()
	}
	_ = p.Fields().Set(pdufield.SystemID, systemID)
	_ = p.Fields().Set(pdufield.Password, password)
	_ = p.Fields().Set(pdufield.InterfaceVersion, uint8(0x34))
	return p
}

func (e *esme) bind(kind pdu.ID) {
	e.t.Helper()
	seq := e.send(bindPDU(kind, smsc.DefaultSystemID, smsc.DefaultPassword))
	p := e.expect(kind|0x80000000, seq, 0)
	if id := smpp.FieldString(p, pdufield.SystemID); id == "" {
		e.t.Fatal("bind response without system_id")
	}
}

func submitSM(from string, fromTON byte, to string, dc byte, payload []byte, registered uint8) pdu.Body {
	p := pdu.NewSubmitSM(nil)
	f := p.Fields()
	_ = f.Set(pdufield.SourceAddrTON, fromTON)
	_ = f.Set(pdufield.SourceAddr, from)
	_ = f.Set(pdufield.DestAddrTON, uint8(1))
	_ = f.Set(pdufield.DestAddrNPI, uint8(1))
	_ = f.Set(pdufield.DestinationAddr, to)
	_ = f.Set(pdufield.RegisteredDelivery, registered)
	_ = f.Set(pdufield.DataCoding, dc)
	_ = f.Set(pdufield.ShortMessage, payload)
	return p
}

func (e *esme) submit(to, text string, registered uint8) string {
	e.t.Helper()
	dc, payload := smpp.Encode(text)
	seq := e.send(submitSM("Otpgate", 5, to, dc, payload, registered))
	p := e.expect(pdu.SubmitSMRespID, seq, 0)
	id := smpp.FieldString(p, pdufield.MessageID)
	if id == "" {
		e.t.Fatal("submit_sm_resp without message_id")
	}
	return id
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []smsc.Config{
		{UndeliveredShare: 1.5},
		{UndeliveredShare: -0.1},
		{InboxSize: -1},
		{SubmitDelay: -time.Second},
		{SystemID: "much-too-long-system-id"},
	} {
		if _, err := smsc.New(cfg); err == nil || !strings.Contains(err.Error(), "Config.") {
			t.Errorf("New(%+v) error = %v, want one naming the field", cfg, err)
		}
	}
}

func TestBindChecksCredentials(t *testing.T) {
	s := start(t, smsc.Config{})
	for _, tt := range []struct {
		systemID, password string
		status             pdu.Status
	}{
		{"otpgate", "wrong", smpp.StatusInvPaswd},
		{"intruder", "secret", smpp.StatusInvSysID},
	} {
		e := dial(t, s)
		seq := e.send(bindPDU(pdu.BindTransceiverID, tt.systemID, tt.password))
		e.expect(pdu.BindTransceiverRespID, seq, tt.status)
		e.expectClosed()
	}
	e := dial(t, s)
	e.bind(pdu.BindTransmitterID)
	seq := e.send(bindPDU(pdu.BindTransmitterID, "otpgate", "secret"))
	e.expect(pdu.BindTransmitterRespID, seq, smpp.StatusAlyBnd)
	if c := s.Counters(); c.Binds != 1 || c.BindFailures != 3 {
		t.Fatalf("counters %+v", c)
	}
}

func TestSubmitDecodesIntoInbox(t *testing.T) {
	var mu sync.Mutex
	var notified []smsc.Message
	s := start(t, smsc.Config{ReceiptDelay: -1, OnMessage: func(m smsc.Message) {
		mu.Lock()
		notified = append(notified, m)
		mu.Unlock()
	}})
	e := dial(t, s)
	e.bind(pdu.BindTransmitterID)

	tests := []struct {
		to       string
		dc       byte
		payload  []byte
		text     string
		encoding string
	}{
		{"447911000001", 0x00, []byte{'C', 'o', 'd', 'e', ' ', 0x1B, 0x65, 0x1B, 0x3C, 0x1B, 0x14, 0x00}, "Code €[^@", "gsm7"},
		{"447911000002", 0x08, smpp.EncodeUCS2("Ваш код 123456"), "Ваш код 123456", "ucs2"},
		{"447911000003", 0x03, []byte{'c', 'a', 'f', 0xE9}, "café", "latin1"},
		{"+447911000004", 0x00, []byte("plus kept"), "plus kept", "gsm7"},
	}
	for _, tt := range tests {
		seq := e.send(submitSM("+15550001111", 1, tt.to, tt.dc, tt.payload, 0))
		p := e.expect(pdu.SubmitSMRespID, seq, 0)
		id := smpp.FieldString(p, pdufield.MessageID)
		msgs := s.Messages(tt.to)
		if len(msgs) != 1 {
			t.Fatalf("%d messages for %s", len(msgs), tt.to)
		}
		m := msgs[0]
		want := "+" + strings.TrimPrefix(tt.to, "+")
		if m.ID != id || m.Text != tt.text || m.Encoding != tt.encoding || m.DataCoding != tt.dc || m.To != want || m.From != "+15550001111" || m.ReceivedAt.IsZero() {
			t.Fatalf("inbox %+v, want id %s text %q encoding %s to %s", m, id, tt.text, tt.encoding, want)
		}
	}
	// UDHI: the user data header is skipped.
	udh := submitSM("Otpgate", 5, "447911000005", 0, append([]byte{5, 0, 3, 7, 1, 1}, "part one"...), 0)
	_ = udh.Fields().Set(pdufield.ESMClass, uint8(0x40))
	e.expect(pdu.SubmitSMRespID, e.send(udh), 0)
	if m := s.Messages("+447911000005"); len(m) != 1 || m[0].Text != "part one" {
		t.Fatalf("UDH message %+v", m)
	}
	// message_payload TLV instead of short_message.
	mp := submitSM("Otpgate", 5, "447911000006", 0, nil, 0)
	_ = mp.TLVFields().Set(pdutlv.TagMessagePayload, []byte("payload text"))
	e.expect(pdu.SubmitSMRespID, e.send(mp), 0)
	if m := s.Messages("447911000006"); len(m) != 1 || m[0].Text != "payload text" {
		t.Fatalf("message_payload message %+v", m)
	}

	all := s.Messages("")
	if len(all) != 6 || all[0].To != "+447911000006" || all[5].To != "+447911000001" {
		t.Fatalf("Messages(\"\") not newest first: %+v", all)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notified) != 6 || notified[1].Text != "Ваш код 123456" {
		t.Fatalf("OnMessage got %d messages", len(notified))
	}
	if sub, rec := s.Stats(); sub != 6 || rec != 0 {
		t.Fatalf("Stats = %d, %d", sub, rec)
	}
}

func TestInboxRingAndUniqueIDs(t *testing.T) {
	s := start(t, smsc.Config{InboxSize: 3, ReceiptDelay: -1})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	ids := map[string]bool{}
	for i := 0; i < 5; i++ {
		id := e.submit("+15550000100", fmt.Sprintf("code %d", i), 0)
		if ids[id] {
			t.Fatalf("duplicate id %s", id)
		}
		ids[id] = true
	}
	msgs := s.Messages("+15550000100")
	if len(msgs) != 3 || msgs[0].Text != "code 4" || msgs[2].Text != "code 2" {
		t.Fatalf("ring kept %+v", msgs)
	}
	// A second simulator (a restart) never reuses ids.
	s2 := start(t, smsc.Config{ReceiptDelay: -1})
	e2 := dial(t, s2)
	e2.bind(pdu.BindTransceiverID)
	if id := e2.submit("+15550000100", "x", 0); ids[id] {
		t.Fatalf("restarted simulator reused id %s", id)
	}
}

func TestReceipts(t *testing.T) {
	for _, tt := range []struct {
		name      string
		share     float64
		stat      string
		state     byte
		dlvrd     string
		errCode   string
		registerd uint8
		want      bool
	}{
		{"delivered", 0, smpp.StatDelivered, 2, "dlvrd:001", "err:000", 1, true},
		{"undelivered", 1, smpp.StatUndeliverable, 5, "dlvrd:000", "err:001", 1, true},
		{"failure-only receipt, delivered", 0, "", 0, "", "", 2, false},
		{"failure-only receipt, failed", 1, smpp.StatUndeliverable, 5, "dlvrd:000", "err:001", 2, true},
		{"no receipt requested", 0, "", 0, "", "", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, smsc.Config{ReceiptDelay: 5 * time.Millisecond, UndeliveredShare: tt.share})
			e := dial(t, s)
			e.bind(pdu.BindTransceiverID)
			id := e.submit("+447911123456", "Your code is 123456", tt.registerd)
			if !tt.want {
				_ = e.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if p, err := smpp.ReadPDU(e.br); err == nil {
					t.Fatalf("unexpected %s", smpp.CommandName(p.Header().ID))
				}
				return
			}
			p := e.read()
			if p.Header().ID != pdu.DeliverSMID {
				t.Fatalf("got %s, want deliver_sm", smpp.CommandName(p.Header().ID))
			}
			text := string(smpp.FieldBytes(p, pdufield.ShortMessage))
			for _, want := range []string{"id:" + id + " ", "stat:" + tt.stat, tt.dlvrd, tt.errCode, "submit date:", "done date:", "text:Your code is 1234"} {
				if !strings.Contains(text, want) {
					t.Errorf("receipt text %q lacks %q", text, want)
				}
			}
			if esm := smpp.FieldByte(p, pdufield.ESMClass); esm != 0x04 {
				t.Errorf("esm_class 0x%02X", esm)
			}
			if src := smpp.FieldString(p, pdufield.SourceAddr); src != "447911123456" {
				t.Errorf("receipt source_addr %q", src)
			}
			if v, ok := smpp.TLVBytes(p, pdutlv.TagReceiptedMessageID); !ok || string(v) != id+"\x00" {
				t.Errorf("receipted_message_id %q", v)
			}
			if v, ok := smpp.TLVBytes(p, pdutlv.TagMessageStateOption); !ok || len(v) != 1 || v[0] != tt.state {
				t.Errorf("message_state % x", v)
			}
			r, err := smpp.ParseReceipt(p)
			if err != nil || r.MessageID != id || r.Stat != tt.stat {
				t.Fatalf("ParseReceipt = %+v, %v", r, err)
			}
			// Acknowledge; the simulator counts it.
			ack := pdu.NewDeliverSMResp()
			b, _ := smpp.MarshalPDU(ack, p.Header().Seq, 0)
			e.sendRaw(b)
			deadline := time.Now().Add(2 * time.Second)
			for {
				c := s.Counters()
				_, rec := s.Stats()
				if c.DeliverAcks == 1 && rec == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("receipt or its deliver_sm_resp not counted: %+v", c)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
}

// TestReceiptRouting: a transmitter-only bind gets no receipts; they go to a
// receiver of the same system_id, and wait for one when none is bound.
func TestReceiptRouting(t *testing.T) {
	s := start(t, smsc.Config{ReceiptDelay: time.Millisecond})
	tx := dial(t, s)
	tx.bind(pdu.BindTransmitterID)
	id1 := tx.submit("+15550000200", "one", 1)
	time.Sleep(30 * time.Millisecond) // the receipt is due and pending: nobody can receive it

	rx := dial(t, s)
	rx.bind(pdu.BindReceiverID)
	p := rx.read()
	if r, err := smpp.ParseReceipt(p); err != nil || r.MessageID != id1 {
		t.Fatalf("pending receipt: %+v %v", r, err)
	}
	id2 := tx.submit("+15550000200", "two", 1)
	p = rx.read()
	if r, err := smpp.ParseReceipt(p); err != nil || r.MessageID != id2 {
		t.Fatalf("routed receipt: %+v %v", r, err)
	}
	// Submitting on a receiver bind is refused.
	dc, payload := smpp.Encode("x")
	seq := rx.send(submitSM("A", 5, "15550000200", dc, payload, 1))
	rx.expect(pdu.SubmitSMRespID, seq, smpp.StatusInvBndSts)
	// Nothing went to the transmitter.
	_ = tx.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if p, err := smpp.ReadPDU(tx.br); err == nil {
		t.Fatalf("transmitter got %s", smpp.CommandName(p.Header().ID))
	}
}

func TestSubmitDelayAndStatusHook(t *testing.T) {
	s := start(t, smsc.Config{ReceiptDelay: -1, SubmitDelay: 50 * time.Millisecond, SubmitStatus: func(m smsc.Message) pdu.Status {
		if strings.HasSuffix(m.To, "58") {
			return smpp.StatusThrottled
		}
		return 0
	}})
	e := dial(t, s)
	e.bind(pdu.BindTransceiverID)
	start := time.Now()
	e.submit("+15550000300", "slow", 0)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("submit_sm_resp after %v, want at least 50ms", d)
	}
	dc, payload := smpp.Encode("x")
	seq := e.send(submitSM("A", 5, "15550000358", dc, payload, 1))
	e.expect(pdu.SubmitSMRespID, seq, smpp.StatusThrottled)
	if len(s.Messages("+15550000358")) != 0 {
		t.Fatal("rejected message stored")
	}
	if c := s.Counters(); c.Rejected != 1 || c.Submits != 1 {
		t.Fatalf("counters %+v", c)
	}
}

func TestProtocolHousekeeping(t *testing.T) {
	s := start(t, smsc.Config{})
	e := dial(t, s)
	// submit before bind
	dc, payload := smpp.Encode("x")
	seq := e.send(submitSM("A", 5, "15550000400", dc, payload, 1))
	e.expect(pdu.SubmitSMRespID, seq, smpp.StatusInvBndSts)
	e.bind(pdu.BindTransceiverID)
	seq = e.send(pdu.NewEnquireLink())
	e.expect(pdu.EnquireLinkRespID, seq, 0)
	// unknown command
	raw := make([]byte, 16)
	binary.BigEndian.PutUint32(raw[0:], 16)
	binary.BigEndian.PutUint32(raw[4:], 0x00000777)
	binary.BigEndian.PutUint32(raw[12:], 4242)
	e.sendRaw(raw)
	e.expect(pdu.GenericNACKID, 4242, smpp.StatusInvCmdID)
	// query_sm is decoded but not supported
	seq = e.send(pdu.NewQuerySM())
	e.expect(pdu.GenericNACKID, seq, smpp.StatusInvCmdID)
	// a submit_sm whose sm_length runs past the PDU
	bad := make([]byte, 16)
	body := []byte{0, 5, 0, 'A', 0, 1, 1, '1', '2', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 150, 'x'}
	binary.BigEndian.PutUint32(bad[0:], uint32(16+len(body)))
	binary.BigEndian.PutUint32(bad[4:], uint32(pdu.SubmitSMID))
	binary.BigEndian.PutUint32(bad[12:], 4243)
	e.sendRaw(append(bad, body...))
	e.expect(pdu.GenericNACKID, 4243, smpp.StatusInvCmdLen)
	// still works
	e.submit("+15550000400", "after the noise", 0)
	seq = e.send(pdu.NewUnbind())
	e.expect(pdu.UnbindRespID, seq, 0)
	e.expectClosed()
	c := s.Counters()
	if c.EnquireLinks != 1 || c.Unbinds != 1 || c.GenericNACKs != 3 {
		t.Fatalf("counters %+v", c)
	}
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	s := start(t, smsc.Config{ReceiptDelay: -1})
	good := dial(t, s)
	good.bind(pdu.BindTransceiverID)
	bad := dial(t, s)
	bad.sendRaw([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	bad.expectClosed()
	good.submit("+15550000500", "still alive", 0)
	if c := s.Counters(); c.Garbage != 1 {
		t.Fatalf("garbage counter %d", c.Garbage)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	s, err := smsc.New(smsc.Config{ReceiptDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	var es []*esme
	for i := 0; i < 3; i++ {
		e := dial(t, s)
		e.bind(pdu.BindTransceiverID)
		e.submit("+15550000600", "pending receipt", 1)
		es = append(es, e)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, e := range es {
		e.expectClosed()
	}
	if s.Sessions() != 0 {
		t.Fatalf("%d sessions after Close", s.Sessions())
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Listen("127.0.0.1:0"); err == nil {
		t.Fatal("Listen after Close accepted")
	}
}

// FuzzSession throws arbitrary bytes at a bound session: the simulator must
// not panic and must keep serving other clients.
func FuzzSession(f *testing.F) {
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte("\x00\x00\x00\x20\x00\x00\x00\x04garbage garbage!"))
	s, err := smsc.New(smsc.Config{ReceiptDelay: -1})
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Listen("127.0.0.1:0"); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		e := dial(t, s)
		e.bind(pdu.BindTransceiverID)
		e.sendRaw(data)
		_ = e.conn.Close()
		probe := dial(t, s)
		seq := probe.send(pdu.NewEnquireLink())
		probe.expect(pdu.EnquireLinkRespID, seq, 0)
	})
}
