package smpp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
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

// pump reads every PDU of a bound raw connection in the background,
// answering enquire_link itself, and hands the rest over the channel (closed
// when the connection ends).
func (c *rawConn) pump() <-chan pdu.Body {
	ch := make(chan pdu.Body, 64)
	_ = c.SetReadDeadline(time.Time{})
	go func() {
		defer close(ch)
		for {
			p, err := smpp.ReadPDU(c.br)
			if err != nil {
				return
			}
			if p.Header().ID == pdu.EnquireLinkID {
				if b, err := smpp.MarshalPDU(pdu.NewEnquireLinkResp(), p.Header().Seq, 0); err == nil {
					_, _ = c.Write(b)
				}
				continue
			}
			ch <- p
		}
	}()
	return ch
}

// next returns the next PDU from a pump, failing after timeout.
func next(t *testing.T, ch <-chan pdu.Body, timeout time.Duration) pdu.Body {
	t.Helper()
	select {
	case p, ok := <-ch:
		if !ok {
			t.Fatal("connection closed")
		}
		return p
	case <-time.After(timeout):
		t.Fatalf("nothing within %v", timeout)
		return nil
	}
}

// none asserts a pump delivers nothing for d.
func none(t *testing.T, ch <-chan pdu.Body, d time.Duration) {
	t.Helper()
	select {
	case p, ok := <-ch:
		if ok {
			t.Fatalf("unexpected %s seq %d", smpp.CommandName(p.Header().ID), p.Header().Seq)
		}
	case <-time.After(d):
	}
}

// twoBinds starts a client with two transceiver binds on a scripted SMSC
// and returns both connections, bound, with their pumps.
func twoBinds(t *testing.T, mutate func(*smpp.Config)) (*smpp.Client, smpp.Config, [2]*rawConn, [2]<-chan pdu.Body) {
	t.Helper()
	raw := startRaw(t)
	cfg := rawClientCfg(t, raw.addr())
	cfg.Binds = []smpp.BindSpec{{Kind: smpp.BindTransceiver, Count: 2}}
	if mutate != nil {
		mutate(&cfg)
	}
	c, _ := runClient(t, cfg, nil)
	var conns [2]*rawConn
	var pumps [2]<-chan pdu.Body
	for i := range conns {
		conns[i] = raw.accept(t)
		conns[i].bind(t)
		pumps[i] = conns[i].pump()
	}
	waitAllBound(t, c)
	return c, cfg, conns, pumps
}

// either returns the next PDU from whichever pump has one, and which.
func either(t *testing.T, pumps [2]<-chan pdu.Body, timeout time.Duration) (pdu.Body, int) {
	t.Helper()
	select {
	case p := <-pumps[0]:
		return p, 0
	case p := <-pumps[1]:
		return p, 1
	case <-time.After(timeout):
		t.Fatalf("no PDU within %v", timeout)
		return nil, 0
	}
}

// TestTimeoutRetriedOnOtherBind: a submit_sm left unanswered is sent again
// on the other bind, once; its answer is the result. The first attempt's
// late response is counted as a possible duplicate and changes nothing.
func TestTimeoutRetriedOnOtherBind(t *testing.T) {
	c, cfg, conns, pumps := twoBinds(t, func(cfg *smpp.Config) { cfg.SubmitTimeout = 150 * time.Millisecond })
	type res struct {
		id  string
		err error
	}
	done := make(chan res, 1)
	go func() {
		id, err := c.Submit(context.Background(), smpp.Message{To: "+15550010000", Text: "code 123"})
		done <- res{id, err}
	}()
	first, a := either(t, pumps, 3*time.Second)
	if first.Header().ID != pdu.SubmitSMID {
		t.Fatalf("got %s", smpp.CommandName(first.Header().ID))
	}
	// No answer: the same message must come on the other bind.
	other := 1 - a
	second := next(t, pumps[other], 2*time.Second)
	if second.Header().ID != pdu.SubmitSMID ||
		smpp.FieldString(second, pdufield.DestinationAddr) != "15550010000" ||
		!bytes.Equal(smpp.FieldBytes(second, pdufield.ShortMessage), smpp.FieldBytes(first, pdufield.ShortMessage)) {
		t.Fatalf("the retry is not the same message")
	}
	none(t, pumps[a], 50*time.Millisecond) // and not again on the first bind
	conns[other].send(t, submitResp("B-1"), second.Header().Seq, 0)
	r := <-done
	if r.err != nil || r.id != "B-1" {
		t.Fatalf("Submit = %q, %v; want the retry's id B-1", r.id, r.err)
	}
	if n := bindCounter("otpgate_smpp_timeouts_total", cfg.Name, 2); n != 1 {
		t.Fatalf("%d timeouts counted, want 1", n)
	}
	if n := bindCounter("otpgate_smpp_timeout_retries_total", cfg.Name, 2); n != 1 {
		t.Fatalf("%d timeout retries counted, want 1", n)
	}

	// The first attempt's response comes late: counted, nothing sent.
	conns[a].send(t, submitResp("A-1"), first.Header().Seq, 0)
	waitFor(t, 2*time.Second, "the late response counted", func() bool {
		return bindCounter("otpgate_smpp_late_responses_total", cfg.Name, 2) == 1
	})
	none(t, pumps[0], 50*time.Millisecond)
	none(t, pumps[1], 10*time.Millisecond)
	if !c.Bound() || len(c.Binds()) != 2 || !c.Binds()[0].Bound || !c.Binds()[1].Bound {
		t.Fatalf("binds dropped: %+v", c.Binds())
	}

	// An acknowledged submit is never sent again, and a second timeout (on
	// the retry too) ends in ErrTimeout.
	go func() {
		id, err := c.Submit(context.Background(), smpp.Message{To: "+15550010001", Text: "code 456"})
		done <- res{id, err}
	}()
	p, k := either(t, pumps, 3*time.Second)
	if p2 := next(t, pumps[1-k], 2*time.Second); p2.Header().ID != pdu.SubmitSMID || p.Header().ID != pdu.SubmitSMID {
		t.Fatalf("got %s and %s", smpp.CommandName(p.Header().ID), smpp.CommandName(p2.Header().ID))
	}
	r = <-done
	if !errors.Is(r.err, smpp.ErrTimeout) || r.id != "" {
		t.Fatalf("Submit after two timeouts = %q, %v; want ErrTimeout", r.id, r.err)
	}
	none(t, pumps[0], 200*time.Millisecond) // no third attempt
	none(t, pumps[1], 10*time.Millisecond)
	if n := bindCounter("otpgate_smpp_timeout_retries_total", cfg.Name, 2); n != 2 {
		t.Fatalf("%d timeout retries counted, want 2", n)
	}
}

// TestMultipartOnTheWire: the parts of a long message go in order, on one
// bind, with the concatenation header of Config.Concat and one reference.
func TestMultipartOnTheWire(t *testing.T) {
	text := strings.Repeat("Your code is 123456. ", 20)[:400] // 3 GSM parts
	tests := []struct {
		concat string
		esm    byte
		parse  func(p pdu.Body) (ref, total, seq int, payload []byte, ok bool)
	}{
		{smpp.ConcatUDH8, 0x40, func(p pdu.Body) (int, int, int, []byte, bool) {
			sm := smpp.FieldBytes(p, pdufield.ShortMessage)
			if len(sm) < 6 || !bytes.Equal(sm[:3], []byte{0x05, 0x00, 0x03}) {
				return 0, 0, 0, nil, false
			}
			return int(sm[3]), int(sm[4]), int(sm[5]), sm[6:], true
		}},
		{smpp.ConcatUDH16, 0x40, func(p pdu.Body) (int, int, int, []byte, bool) {
			sm := smpp.FieldBytes(p, pdufield.ShortMessage)
			if len(sm) < 7 || !bytes.Equal(sm[:3], []byte{0x06, 0x08, 0x04}) {
				return 0, 0, 0, nil, false
			}
			return int(sm[3])<<8 | int(sm[4]), int(sm[5]), int(sm[6]), sm[7:], true
		}},
		{smpp.ConcatSAR, 0x00, func(p pdu.Body) (int, int, int, []byte, bool) {
			ref, ok1 := smpp.TLVBytes(p, pdutlv.TagSarMsgRefNum)
			total, ok2 := smpp.TLVBytes(p, pdutlv.TagSarTotalSegments)
			seq, ok3 := smpp.TLVBytes(p, pdutlv.TagSarSegmentSeqnum)
			if !ok1 || !ok2 || !ok3 || len(ref) != 2 || len(total) != 1 || len(seq) != 1 {
				return 0, 0, 0, nil, false
			}
			return int(ref[0])<<8 | int(ref[1]), int(total[0]), int(seq[0]), smpp.FieldBytes(p, pdufield.ShortMessage), true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.concat, func(t *testing.T) {
			c, _, conns, pumps := twoBinds(t, func(cfg *smpp.Config) { cfg.Concat = tt.concat })
			type res struct {
				sent smpp.Sent
				err  error
			}
			refs := map[int]bool{}
			for round := 0; round < 2; round++ { // two messages: two references
				done := make(chan res, 1)
				go func() {
					sent, err := c.Send(context.Background(), smpp.Message{From: "Acme", To: "+447911123456", Text: text})
					done <- res{sent, err}
				}()
				var joined []byte
				bindOf := -1
				ref := -1
				for part := 1; part <= 3; part++ {
					p, k := either(t, pumps, 3*time.Second)
					if bindOf >= 0 && k != bindOf {
						t.Fatalf("part %d came on bind connection %d, part 1 on %d", part, k, bindOf)
					}
					bindOf = k
					if esm := smpp.FieldByte(p, pdufield.ESMClass); esm != tt.esm {
						t.Fatalf("part %d esm_class 0x%02X, want 0x%02X", part, esm, tt.esm)
					}
					if dc := smpp.FieldByte(p, pdufield.DataCoding); dc != 0 {
						t.Fatalf("part %d data_coding 0x%02X", part, dc)
					}
					r, total, seq, payload, ok := tt.parse(p)
					if !ok || total != 3 || seq != part || (ref >= 0 && r != ref) {
						t.Fatalf("part %d: concatenation info ok=%v ref=%d total=%d seq=%d (first ref %d)", part, ok, r, total, seq, ref)
					}
					ref = r
					joined = append(joined, payload...)
					conns[k].send(t, submitResp("id-"+string(rune('0'+part))), p.Header().Seq, 0)
				}
				r := <-done
				if r.err != nil || r.sent.Parts != 3 || strings.Join(r.sent.IDs, ",") != "id-1,id-2,id-3" || r.sent.Encoding != smpp.EncodingGSM7 {
					t.Fatalf("Send = %+v, %v", r.sent, r.err)
				}
				if got := smpp.DecodeGSM7(joined); got != text {
					t.Fatalf("parts join to %q", got)
				}
				refs[ref] = true
			}
			if len(refs) != 2 {
				t.Fatalf("two messages shared the reference %v", refs)
			}
		})
	}
}

// TestTransmitterAndReceiver: bind fields from the Config, kinds per bind,
// Bound only with a transmitting bind, submits only on the transmitter,
// receipts (with network_error_code) on the receiver, and an unbind from the
// SMSC answered and followed by a new bind.
func TestTransmitterAndReceiver(t *testing.T) {
	raw := startRaw(t)
	cfg := rawClientCfg(t, raw.addr())
	cfg.Binds = []smpp.BindSpec{{Kind: smpp.BindTransmitter}, {Kind: smpp.BindReceiver}}
	cfg.InterfaceVersion = 0x50
	cfg.SystemType = "OTP"
	cfg.AddrTON, cfg.AddrNPI, cfg.AddressRange = 1, 1, "^44"
	got := make(chan smpp.Receipt, 4)
	c, _ := runClient(t, cfg, func(r smpp.Receipt) { got <- r })

	conns := map[pdu.ID]*rawConn{}
	binds := map[pdu.ID]pdu.Body{}
	for i := 0; i < 2; i++ {
		conn := raw.accept(t)
		p := conn.read(t, 3*time.Second)
		conns[p.Header().ID], binds[p.Header().ID] = conn, p
	}
	tx, rx := conns[pdu.BindTransmitterID], conns[pdu.BindReceiverID]
	if tx == nil || rx == nil {
		t.Fatalf("binds %v, want one bind_transmitter and one bind_receiver", binds)
	}
	for id, p := range binds {
		f := func(n pdufield.Name) string { return smpp.FieldString(p, n) }
		if smpp.FieldByte(p, pdufield.InterfaceVersion) != 0x50 || f(pdufield.SystemType) != "OTP" ||
			smpp.FieldByte(p, pdufield.AddrTON) != 1 || smpp.FieldByte(p, pdufield.AddrNPI) != 1 || f(pdufield.AddressRange) != "^44" ||
			f(pdufield.SystemID) != cfg.SystemID || f(pdufield.Password) != cfg.Password {
			t.Fatalf("%s fields: %v", smpp.CommandName(id), p.Fields())
		}
	}
	answerBind := func(conn *rawConn, req pdu.Body, resp pdu.Body) {
		_ = resp.Fields().Set(pdufield.SystemID, "raw")
		conn.send(t, resp, req.Header().Seq, 0)
	}
	answerBind(rx, binds[pdu.BindReceiverID], pdu.NewBindReceiverResp())
	waitFor(t, 2*time.Second, "receiver bound", func() bool { return c.Binds()[1].Bound })
	if c.Bound() || c.Binds()[0].Bound {
		t.Fatal("Bound() with only the receiver bound: nothing can be sent")
	}
	answerBind(tx, binds[pdu.BindTransmitterID], pdu.NewBindTransmitterResp())
	waitFor(t, 2*time.Second, "transmitter bound", c.Bound)
	if st := c.Binds(); st[0].Kind != smpp.BindTransmitter || st[1].Kind != smpp.BindReceiver {
		t.Fatalf("bind states %+v", st)
	}
	txPump, rxPump := tx.pump(), rx.pump()

	ids := make(chan string, 1)
	go func() {
		id, err := c.Submit(context.Background(), smpp.Message{To: "+447911123456", Text: "code"})
		if err != nil {
			id = err.Error()
		}
		ids <- id
	}()
	sub := next(t, txPump, 3*time.Second)
	if sub.Header().ID != pdu.SubmitSMID {
		t.Fatalf("transmitter got %s", smpp.CommandName(sub.Header().ID))
	}
	tx.send(t, submitResp("1234567890"), sub.Header().Seq, 0)
	if id := <-ids; id != "1234567890" {
		t.Fatalf("Submit = %q", id)
	}
	none(t, rxPump, 20*time.Millisecond)

	// A receipt on the receiver, with the id in hex and a network error.
	dlr := smpp.NewDeliverSM()
	_ = dlr.Fields().Set(pdufield.ESMClass, uint8(0x04))
	_ = dlr.Fields().Set(pdufield.ShortMessage, []byte("id:499602D2 sub:001 dlvrd:000 submit date:2401021530 done date:2401021531 stat:UNDELIV err:034 text:"))
	_ = dlr.TLVFields().Set(pdutlv.TagNetworkErrorCode, []byte{3, 0, 34})
	rx.send(t, dlr, 300, 0)
	if ack := next(t, rxPump, 2*time.Second); ack.Header().ID != pdu.DeliverSMRespID || ack.Header().Seq != 300 {
		t.Fatalf("receipt answered with %s", smpp.CommandName(ack.Header().ID))
	}
	select {
	case r := <-got:
		if r.Bind != 1 || r.NetworkError != "GSM:34" || r.Stat != smpp.StatUndeliverable || r.IDFormat != smpp.ReceiptIDsAuto ||
			!strings.Contains(strings.Join(r.IDCandidates(), ","), "1234567890") {
			t.Fatalf("receipt %+v, candidates %q", r, r.IDCandidates())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no receipt")
	}

	// The SMSC unbinds the receiver: answered, and bound again.
	rx.send(t, pdu.NewUnbind(), 301, 0)
	if resp := next(t, rxPump, 2*time.Second); resp.Header().ID != pdu.UnbindRespID || resp.Header().Seq != 301 {
		t.Fatalf("unbind answered with %s seq %d", smpp.CommandName(resp.Header().ID), resp.Header().Seq)
	}
	rx2 := raw.accept(t)
	if p := rx2.read(t, 3*time.Second); p.Header().ID != pdu.BindReceiverID {
		t.Fatalf("rebind with %s, want bind_receiver", smpp.CommandName(p.Header().ID))
	} else {
		answerBind(rx2, p, pdu.NewBindReceiverResp())
	}
	waitFor(t, 2*time.Second, "receiver bound again", func() bool { return c.Binds()[1].Bound })
	if !c.Bound() || !c.Binds()[0].Bound {
		t.Fatal("the transmitter suffered from the receiver's unbind")
	}
	if n := bindCounter("otpgate_smpp_reconnects_total", cfg.Name, 2); n != 1 {
		t.Fatalf("%d reconnects counted, want 1", n)
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otpgate test SMSC"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// TestTLS: a bind over TLS to a scripted SMSC behind a TLS listener with a
// self-signed certificate; a client that does not trust it never binds and
// says why.
func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	raw := startRawOn(t, ln)
	tests := []struct {
		name    string
		tls     *tls.Config
		wantErr string
	}{
		{"trusted", &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, ""},
		{"untrusted", &tls.Config{MinVersion: tls.VersionTLS12}, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := rawClientCfg(t, raw.addr())
			cfg.TLS = tt.tls
			c, _ := runClient(t, cfg, nil)
			if tt.wantErr != "" {
				// The SMSC side runs the handshake of every attempt.
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					for {
						select {
						case conn := <-raw.conns:
							_ = conn.Conn.(*tls.Conn).Handshake()
						case <-stop:
							return
						}
					}
				}()
				waitFor(t, 3*time.Second, "a TLS error", func() bool {
					err := c.LastError()
					return err != nil && strings.Contains(err.Error(), tt.wantErr) && strings.Contains(err.Error(), "over TLS")
				})
				if c.Bound() {
					t.Fatal("bound to an untrusted SMSC")
				}
				return
			}
			conn := raw.accept(t)
			conn.bind(t)
			if _, ok := conn.Conn.(*tls.Conn); !ok {
				t.Fatal("the scripted SMSC is not speaking TLS")
			}
			waitFor(t, 2*time.Second, "bind", c.Bound)
			var wg sync.WaitGroup
			wg.Add(1)
			var id string
			var serr error
			go func() {
				defer wg.Done()
				id, serr = c.Submit(context.Background(), smpp.Message{To: "+447911123456", Text: "Ваш код 1234"})
			}()
			p := conn.readCmd(t)
			if p.Header().ID != pdu.SubmitSMID || smpp.FieldByte(p, pdufield.DataCoding) != smpp.DataCodingUCS2 {
				t.Fatalf("got %s", smpp.CommandName(p.Header().ID))
			}
			if text, _ := smpp.DecodeText(smpp.DataCodingUCS2, smpp.FieldBytes(p, pdufield.ShortMessage)); text != "Ваш код 1234" {
				t.Fatalf("text %q", text)
			}
			conn.send(t, submitResp("tls-1"), p.Header().Seq, 0)
			wg.Wait()
			if serr != nil || id != "tls-1" {
				t.Fatalf("Submit over TLS = %q, %v", id, serr)
			}
		})
	}
}
