package smpp_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/otpgate/otpgate/smpp"
)

// rawSMSC is a scripted SMSC: the test reads and writes PDUs itself.
type rawSMSC struct {
	ln    net.Listener
	conns chan *rawConn
}

type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func startRaw(t *testing.T) *rawSMSC {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startRawOn(t, ln)
}

// startRawOn serves a scripted SMSC on ln (a TLS listener, say).
func startRawOn(t *testing.T, ln net.Listener) *rawSMSC {
	t.Helper()
	r := &rawSMSC{ln: ln, conns: make(chan *rawConn, 16)}
	var mu sync.Mutex
	var all []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			all = append(all, c)
			mu.Unlock()
			r.conns <- &rawConn{Conn: c, br: bufio.NewReader(c)}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range all {
			_ = c.Close()
		}
	})
	return r
}

func (r *rawSMSC) addr() string { return r.ln.Addr().String() }

func (r *rawSMSC) accept(t *testing.T) *rawConn {
	t.Helper()
	select {
	case c := <-r.conns:
		return c
	case <-time.After(3 * time.Second):
		t.Fatal("client did not connect within 3s")
		return nil
	}
}

// read returns the next PDU, failing the test after timeout.
func (c *rawConn) read(t *testing.T, timeout time.Duration) pdu.Body {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	p, err := smpp.ReadPDU(c.br)
	if err != nil {
		t.Fatalf("raw SMSC read: %v", err)
	}
	return p
}

// readCmd reads PDUs, answering enquire_link, until one that is not an
// enquire_link.
func (c *rawConn) readCmd(t *testing.T) pdu.Body {
	t.Helper()
	for {
		p := c.read(t, 3*time.Second)
		if p.Header().ID == pdu.EnquireLinkID {
			c.send(t, pdu.NewEnquireLinkResp(), p.Header().Seq, 0)
			continue
		}
		return p
	}
}

// quiet asserts nothing but enquire_link arrives for d.
func (c *rawConn) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_ = c.SetReadDeadline(deadline)
		p, err := smpp.ReadPDU(c.br)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return
		}
		if err != nil {
			t.Fatalf("raw SMSC read: %v", err)
		}
		if p.Header().ID != pdu.EnquireLinkID {
			t.Fatalf("unexpected %s while the client should be waiting", smpp.CommandName(p.Header().ID))
		}
		c.send(t, pdu.NewEnquireLinkResp(), p.Header().Seq, 0)
	}
}

func (c *rawConn) send(t *testing.T, p pdu.Body, seq uint32, status pdu.Status) {
	t.Helper()
	b, err := smpp.MarshalPDU(p, seq, status)
	if err != nil {
		t.Fatal(err)
	}
	c.sendRaw(t, b)
}

func (c *rawConn) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("raw SMSC write: %v", err)
	}
}

// bind accepts the client's bind_transceiver.
func (c *rawConn) bind(t *testing.T) {
	t.Helper()
	p := c.bindAny(t)
	if p.Header().ID != pdu.BindTransceiverID {
		t.Fatalf("first PDU is %s, want bind_transceiver", smpp.CommandName(p.Header().ID))
	}
}

// bindAny accepts the client's bind, whatever its kind, and returns it.
func (c *rawConn) bindAny(t *testing.T) pdu.Body {
	t.Helper()
	p := c.read(t, 3*time.Second)
	var resp pdu.Body
	switch p.Header().ID {
	case pdu.BindTransceiverID:
		resp = pdu.NewBindTransceiverResp()
	case pdu.BindTransmitterID:
		resp = pdu.NewBindTransmitterResp()
	case pdu.BindReceiverID:
		resp = pdu.NewBindReceiverResp()
	default:
		t.Fatalf("first PDU is %s, want a bind", smpp.CommandName(p.Header().ID))
	}
	if v := smpp.FieldByte(p, pdufield.InterfaceVersion); v != 0x34 {
		t.Fatalf("interface_version 0x%02X", v)
	}
	_ = resp.Fields().Set(pdufield.SystemID, "raw")
	c.send(t, resp, p.Header().Seq, 0)
	return p
}

// rawClientCfg is clientCfg with a short BindTimeout: the scripted SMSC
// never answers the unbind sent when the test ends.
func rawClientCfg(t *testing.T, addr string) smpp.Config {
	cfg := clientCfg(t, addr)
	cfg.BindTimeout = 250 * time.Millisecond
	return cfg
}

func submitResp(id string) pdu.Body {
	p := pdu.NewSubmitSMResp()
	_ = p.Fields().Set(pdufield.MessageID, id)
	return p
}

func rawPDU(id pdu.ID, seq uint32, body []byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.BigEndian.PutUint32(b[0:], uint32(16+len(body)))
	binary.BigEndian.PutUint32(b[4:], uint32(id))
	binary.BigEndian.PutUint32(b[12:], seq)
	return append(b, body...)
}

func TestWindowLimit(t *testing.T) {
	raw := startRaw(t)
	cfg := rawClientCfg(t, raw.addr())
	cfg.Window = 3
	c, _ := runClient(t, cfg, nil)
	conn := raw.accept(t)
	conn.bind(t)

	const n = 10
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		id  string
		err error
	}
	results := make(chan res, n)
	for i := 0; i < n; i++ {
		go func() {
			id, err := c.Submit(ctx, smpp.Message{To: "+15550005000", Text: "code"})
			results <- res{id, err}
		}()
	}
	var outstanding []uint32
	seqs := map[uint32]bool{}
	for len(outstanding) < cfg.Window {
		p := conn.readCmd(t)
		if p.Header().ID != pdu.SubmitSMID {
			t.Fatalf("got %s", smpp.CommandName(p.Header().ID))
		}
		outstanding = append(outstanding, p.Header().Seq)
	}
	conn.quiet(t, 100*time.Millisecond) // the window is full: nothing more may come
	answered := 0
	for answered < n {
		seq := outstanding[0]
		outstanding = outstanding[1:]
		if seqs[seq] {
			t.Fatalf("sequence number %d reused while outstanding", seq)
		}
		seqs[seq] = true
		conn.send(t, submitResp("id-"+string(rune('a'+answered))), seq, 0)
		answered++
		if answered+len(outstanding) < n {
			p := conn.readCmd(t) // exactly one slot freed: exactly one more submit
			outstanding = append(outstanding, p.Header().Seq)
			if len(outstanding) > cfg.Window {
				t.Fatalf("%d outstanding, window is %d", len(outstanding), cfg.Window)
			}
		}
	}
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		r := <-results
		if r.err != nil || ids[r.id] {
			t.Fatalf("submit: %q %v", r.id, r.err)
		}
		ids[r.id] = true
	}
}

func TestSubmitTimeoutThenLateResponse(t *testing.T) {
	raw := startRaw(t)
	cfg := rawClientCfg(t, raw.addr())
	cfg.SubmitTimeout = 100 * time.Millisecond
	c, _ := runClient(t, cfg, nil)
	conn := raw.accept(t)
	conn.bind(t)

	ctx := context.Background()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, smpp.Message{To: "+15550006000", Text: "code"})
		errc <- err
	}()
	p := conn.readCmd(t)
	err := <-errc
	if !errors.Is(err, smpp.ErrTimeout) {
		t.Fatalf("Submit = %v, want ErrTimeout", err)
	}
	// With one bind there is no other to retry on. The late response is
	// counted and otherwise ignored; the link stays up and works.
	conn.send(t, submitResp("late"), p.Header().Seq, 0)
	waitFor(t, time.Second, "the late response counted", func() bool {
		return bindCounter("otpgate_smpp_late_responses_total", cfg.Name, 1) == 1
	})
	if n := bindCounter("otpgate_smpp_timeout_retries_total", cfg.Name, 1); n != 0 {
		t.Fatalf("%d retries with a single bind", n)
	}
	go func() {
		id, err := c.Submit(ctx, smpp.Message{To: "+15550006001", Text: "code"})
		if err == nil && id != "second" {
			err = errors.New("got id " + id)
		}
		errc <- err
	}()
	p = conn.readCmd(t)
	conn.send(t, submitResp("second"), p.Header().Seq, 0)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !c.Bound() {
		t.Fatal("link dropped")
	}
}

func TestSubmitCanceledAfterSend(t *testing.T) {
	raw := startRaw(t)
	c, _ := runClient(t, rawClientCfg(t, raw.addr()), nil)
	conn := raw.accept(t)
	conn.bind(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Submit(ctx, smpp.Message{To: "+15550006100", Text: "code"})
		errc <- err
	}()
	conn.readCmd(t)
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "outcome unknown") {
		t.Fatalf("Submit = %v, want context.Canceled saying the outcome is unknown", err)
	}
}

func TestGenericNackToSubmit(t *testing.T) {
	raw := startRaw(t)
	c, _ := runClient(t, rawClientCfg(t, raw.addr()), nil)
	conn := raw.accept(t)
	conn.bind(t)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Submit(context.Background(), smpp.Message{To: "+15550006200", Text: "code"})
		errc <- err
	}()
	p := conn.readCmd(t)
	conn.send(t, pdu.NewGenericNACK(), p.Header().Seq, smpp.StatusInvCmdLen)
	var se *smpp.StatusError
	if err := <-errc; !errors.As(err, &se) || se.Status != smpp.StatusInvCmdLen {
		t.Fatalf("Submit = %v, want StatusError ESME_RINVCMDLEN", err)
	}
}

func TestEnquireLinkTimeoutReconnects(t *testing.T) {
	raw := startRaw(t)
	cfg := rawClientCfg(t, raw.addr())
	cfg.EnquireLink = 30 * time.Millisecond
	cfg.EnquireLinkTimeout = 100 * time.Millisecond
	c, _ := runClient(t, cfg, nil)
	conn := raw.accept(t)
	conn.bind(t)
	p := conn.read(t, time.Second)
	if p.Header().ID != pdu.EnquireLinkID {
		t.Fatalf("got %s, want enquire_link", smpp.CommandName(p.Header().ID))
	}
	// Never answer: the client must drop the link and come back.
	conn2 := raw.accept(t)
	conn2.bind(t)
	waitFor(t, time.Second, "rebind", c.Bound)
	_ = conn
}

func TestGarbageFromSMSCReconnects(t *testing.T) {
	raw := startRaw(t)
	c, _ := runClient(t, rawClientCfg(t, raw.addr()), nil)
	conn := raw.accept(t)
	conn.bind(t)
	waitFor(t, time.Second, "bind", c.Bound)
	conn.sendRaw(t, []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
	conn2 := raw.accept(t)
	conn2.bind(t)
	waitFor(t, time.Second, "rebind", c.Bound)
	// The first connection was closed by the client.
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn.br.ReadByte(); err == nil {
		t.Fatal("client kept the garbage connection open")
	}
}

func TestRequestsFromSMSC(t *testing.T) {
	raw := startRaw(t)
	var mu sync.Mutex
	var receipts []smpp.Receipt
	c, _ := runClient(t, rawClientCfg(t, raw.addr()), func(r smpp.Receipt) {
		mu.Lock()
		receipts = append(receipts, r)
		mu.Unlock()
	})
	conn := raw.accept(t)
	conn.bind(t)
	waitFor(t, time.Second, "bind", c.Bound)

	expect := func(id pdu.ID, seq uint32, status pdu.Status) {
		t.Helper()
		p := conn.readCmd(t)
		h := p.Header()
		if h.ID != id || h.Seq != seq || h.Status != status {
			t.Fatalf("got %s seq %d status %s, want %s seq %d status %s",
				smpp.CommandName(h.ID), h.Seq, smpp.StatusName(h.Status), smpp.CommandName(id), seq, smpp.StatusName(status))
		}
	}

	conn.send(t, pdu.NewEnquireLink(), 100, 0)
	p := conn.read(t, 3*time.Second)
	if p.Header().ID != pdu.EnquireLinkRespID || p.Header().Seq != 100 {
		t.Fatalf("enquire_link answered with %s seq %d", smpp.CommandName(p.Header().ID), p.Header().Seq)
	}

	conn.sendRaw(t, rawPDU(0x00000999, 101, []byte{1, 2, 3}))
	expect(pdu.GenericNACKID, 101, smpp.StatusInvCmdID)

	conn.sendRaw(t, rawPDU(pdu.DataSMID, 102, []byte{0, 0}))
	expect(pdu.GenericNACKID, 102, smpp.StatusInvCmdID)

	conn.send(t, pdu.NewQuerySM(), 103, 0)
	expect(pdu.GenericNACKID, 103, smpp.StatusInvCmdID)

	mo := smpp.NewDeliverSM()
	_ = mo.Fields().Set(pdufield.SourceAddr, "447911123456")
	_ = mo.Fields().Set(pdufield.ShortMessage, []byte("STOP"))
	conn.send(t, mo, 104, 0)
	expect(pdu.DeliverSMRespID, 104, 0)

	// A deliver_sm whose sm_length runs past the PDU: undecodable, but
	// acknowledged so the SMSC does not redeliver it forever.
	body := make([]byte, 0, 40)
	body = append(body, 0, 1, 1, '1', 0, 1, 1, '2', 0, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 200)
	body = append(body, "id:1 stat:DELIVRD"...)
	conn.sendRaw(t, rawPDU(pdu.DeliverSMID, 105, body))
	expect(pdu.DeliverSMRespID, 105, 0)

	dlr := smpp.NewDeliverSM()
	_ = dlr.Fields().Set(pdufield.ESMClass, uint8(0x04))
	_ = dlr.Fields().Set(pdufield.ShortMessage, []byte("id:abc123 sub:001 dlvrd:001 submit date:2401021530 done date:2401021531 stat:DELIVRD err:000 text:"))
	conn.send(t, dlr, 106, 0)
	expect(pdu.DeliverSMRespID, 106, 0)
	waitFor(t, time.Second, "receipt", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(receipts) == 1
	})
	mu.Lock()
	if r := receipts[0]; r.MessageID != "abc123" || !r.Delivered {
		t.Fatalf("receipt %+v", r)
	}
	mu.Unlock()

	// The SMSC unbinds: the client answers and reconnects.
	conn.send(t, pdu.NewUnbind(), 107, 0)
	expect(pdu.UnbindRespID, 107, 0)
	conn2 := raw.accept(t)
	conn2.bind(t)
	waitFor(t, time.Second, "rebind", c.Bound)
}

// TestReceiptBeforeSubmitResp: some SMSCs send the receipt before the
// submit_sm_resp. The receipt is delivered (with the id Submit then returns).
func TestReceiptBeforeSubmitResp(t *testing.T) {
	raw := startRaw(t)
	got := make(chan smpp.Receipt, 1)
	c, _ := runClient(t, rawClientCfg(t, raw.addr()), func(r smpp.Receipt) { got <- r })
	conn := raw.accept(t)
	conn.bind(t)
	idc := make(chan string, 1)
	go func() {
		id, err := c.Submit(context.Background(), smpp.Message{To: "+15550007000", Text: "code"})
		if err != nil {
			id = "error: " + err.Error()
		}
		idc <- id
	}()
	p := conn.readCmd(t)
	dlr := smpp.NewDeliverSM()
	_ = dlr.Fields().Set(pdufield.ESMClass, uint8(0x04))
	_ = dlr.TLVFields().Set(pdutlv.TagReceiptedMessageID, pdutlv.CString("F00D"))
	_ = dlr.TLVFields().Set(pdutlv.TagMessageStateOption, uint8(2))
	conn.send(t, dlr, 200, 0)
	if ack := conn.readCmd(t); ack.Header().ID != pdu.DeliverSMRespID || ack.Header().Seq != 200 {
		t.Fatalf("receipt answered with %s seq %d", smpp.CommandName(ack.Header().ID), ack.Header().Seq)
	}
	select {
	case r := <-got:
		if r.MessageID != "F00D" || r.Stat != smpp.StatDelivered {
			t.Fatalf("receipt %+v", r)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("receipt not delivered")
	}
	conn.send(t, submitResp("F00D"), p.Header().Seq, 0)
	if id := <-idc; id != "F00D" {
		t.Fatalf("Submit returned %q", id)
	}
}

func TestBindTimeout(t *testing.T) {
	raw := startRaw(t)
	cfg := rawClientCfg(t, raw.addr())
	cfg.BindTimeout = 100 * time.Millisecond
	c, _ := runClient(t, cfg, nil)
	conn := raw.accept(t)
	conn.read(t, time.Second) // the bind, never answered
	waitFor(t, 2*time.Second, "bind timeout error", func() bool {
		err := c.LastError()
		return err != nil && strings.Contains(err.Error(), "no response within")
	})
	conn2 := raw.accept(t) // and it retries
	conn2.bind(t)
	waitFor(t, time.Second, "bind", c.Bound)
}
