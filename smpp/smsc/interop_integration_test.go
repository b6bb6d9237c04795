package smsc_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"

	"github.com/otpgate/otpgate/smpp"
)

// Interoperability with an SMPP implementation that is not go-smpp: the npm
// package "smpp" (node-smpp, version pinned in testdata/node/package.json)
// runs the SMSC (testdata/node/smsc.js), and Otpgate's client talks to it.
// scripts/test-deps.sh installs node-smpp; without it these tests skip.

const (
	nodeDir        = "testdata/node"
	interopSystem  = "interop"
	interopPass    = "secret"
	interopTimeout = 10 * time.Second
)

// nodeEvent is one JSON line of smsc.js.
type nodeEvent struct {
	Event              string `json:"event"`
	Port               int    `json:"port"`
	Session            int    `json:"session"`
	Command            string `json:"command"`
	SystemID           string `json:"system_id"`
	Status             int    `json:"status"`
	ID                 string `json:"id"`
	SourceAddr         string `json:"source_addr"`
	SourceAddrTON      int    `json:"source_addr_ton"`
	SourceAddrNPI      int    `json:"source_addr_npi"`
	DestinationAddr    string `json:"destination_addr"`
	DestAddrTON        int    `json:"dest_addr_ton"`
	DestAddrNPI        int    `json:"dest_addr_npi"`
	DataCoding         int    `json:"data_coding"`
	ESMClass           int    `json:"esm_class"`
	RegisteredDelivery int    `json:"registered_delivery"`
	ShortMessageHex    string `json:"short_message_hex"`
	UDH                *struct {
		IEI, Ref, Total, Seq int
	} `json:"udh"`
	SAR *struct {
		MsgRefNum     int `json:"msg_ref_num"`
		TotalSegments int `json:"total_segments"`
		SegmentSeqnum int `json:"segment_seqnum"`
	} `json:"sar"`
	Text    string `json:"text"`
	Stat    string `json:"stat"`
	Message string `json:"message"`
}

// nodeSMSC is a running smsc.js.
type nodeSMSC struct {
	t      *testing.T
	addr   string
	events chan nodeEvent

	mu   sync.Mutex
	seen []string // every line, for the log on failure
}

// startNodeSMSC starts smsc.js on a free loopback port, or skips the test
// when node-smpp is not installed. It is stopped (stdin closed, then killed
// if need be) when the test ends.
func startNodeSMSC(t *testing.T, receiptDelayMS int) *nodeSMSC {
	t.Helper()
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "smpp", "package.json")); err != nil {
		t.Skipf("node-smpp is not installed in smpp/smsc/%s/node_modules: run scripts/test-deps.sh (it needs node and npm)", nodeDir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH: run scripts/test-deps.sh (as root it installs Debian's nodejs and npm)")
	}
	cmd := exec.Command(node, "smsc.js", "0", fmt.Sprint(receiptDelayMS))
	cmd.Dir = nodeDir
	stdin, err := cmd.StdinPipe() // closing it stops smsc.js
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node smsc.js: %v", err)
	}
	n := &nodeSMSC{t: t, events: make(chan nodeEvent, 1024)}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(n.events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.seen = append(n.seen, line)
			n.mu.Unlock()
			var ev nodeEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				continue
			}
			n.events <- ev
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("node smsc.js exited with %v; stderr:\n%s", err, stderr.String())
			}
		case <-time.After(3 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("node smsc.js did not exit within 3s of its stdin closing")
		}
		<-readDone
		if t.Failed() {
			n.mu.Lock()
			t.Logf("smsc.js stdout:\n%s\nstderr:\n%s", strings.Join(n.seen, "\n"), stderr.String())
			n.mu.Unlock()
		}
	})
	ev := n.next(5*time.Second, func(ev nodeEvent) bool { return ev.Event == "listening" })
	n.addr = net.JoinHostPort("127.0.0.1", fmt.Sprint(ev.Port))
	return n
}

// next returns the next event that match accepts, skipping others, failing
// the test after d.
func (n *nodeSMSC) next(d time.Duration, match func(nodeEvent) bool) nodeEvent {
	n.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-n.events:
			if !ok {
				n.t.Fatal("smsc.js ended its output")
			}
			if ev.Event == "error" {
				n.t.Errorf("smsc.js reported an error: %s", ev.Message)
			}
			if match(ev) {
				return ev
			}
		case <-timer.C:
			n.t.Fatalf("no matching event from smsc.js within %v", d)
		}
	}
}

// TestInteropNodeSMPPClient drives node-smpp's SMSC with Otpgate's client:
// GSM 03.38 text, UCS-2 text and GSM escapes arrive with the right
// data_coding and octets, and every receipt comes back with its id.
func TestInteropNodeSMPPClient(t *testing.T) {
	n := startNodeSMSC(t, 20)
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()

	var mu sync.Mutex
	receipts := map[string]smpp.Receipt{}
	gotReceipt := make(chan struct{}, 16)
	client, err := smpp.NewClient(smpp.Config{
		Name: "interop-node", Addr: n.addr, SystemID: interopSystem, Password: interopPass,
		BindTimeout: 3 * time.Second, SubmitTimeout: 3 * time.Second,
	}, func(r smpp.Receipt) {
		mu.Lock()
		receipts[r.MessageID] = r
		mu.Unlock()
		gotReceipt <- struct{}{}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopClient := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- client.Run(runCtx) }()
	defer func() {
		stopClient()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	}()

	// The octets are written out here, not computed with package smpp's
	// encoder: node-smpp must see exactly these.
	tests := []struct {
		name string
		text string
		dc   int
		hex  string
	}{
		{"gsm7", "Your code is 123456", 0x00, "596f757220636f646520697320313233343536"},
		{"ucs2", "Ваш код 123456", 0x08, "0412043004480020043a043e04340020003100320033003400350036"},
		{"gsm7 escapes", "Code 123456 €[^", 0x00, "436f646520313233343536201b651b3c1b14"},
	}
	ids := map[string]bool{}
	for i, tt := range tests {
		to := fmt.Sprintf("+4477009000%02d", i)
		id, err := client.Submit(ctx, smpp.Message{From: "Otpgate", To: to, Text: tt.text})
		if err != nil {
			t.Fatalf("%s: Submit: %v", tt.name, err)
		}
		ev := n.next(time.Until(deadline(ctx)), func(ev nodeEvent) bool { return ev.Event == "submit_sm" && ev.ID == id })
		if ev.DataCoding != tt.dc || ev.ShortMessageHex != tt.hex || ev.Text != tt.text {
			t.Errorf("%s: node-smpp got data_coding 0x%02X octets %s (%q), want 0x%02X %s (%q)",
				tt.name, ev.DataCoding, ev.ShortMessageHex, ev.Text, tt.dc, tt.hex, tt.text)
		}
		if ev.DestinationAddr != strings.TrimPrefix(to, "+") || ev.DestAddrTON != 1 || ev.DestAddrNPI != 1 {
			t.Errorf("%s: destination %q TON %d NPI %d", tt.name, ev.DestinationAddr, ev.DestAddrTON, ev.DestAddrNPI)
		}
		if ev.SourceAddr != "Otpgate" || ev.SourceAddrTON != 5 || ev.SourceAddrNPI != 0 {
			t.Errorf("%s: source %q TON %d NPI %d", tt.name, ev.SourceAddr, ev.SourceAddrTON, ev.SourceAddrNPI)
		}
		if ev.ESMClass&0x40 != 0 || ev.UDH != nil || ev.SAR != nil || ev.RegisteredDelivery&1 != 1 {
			t.Errorf("%s: esm_class 0x%02X udh %v sar %v registered_delivery %d", tt.name, ev.ESMClass, ev.UDH, ev.SAR, ev.RegisteredDelivery)
		}
		ids[id] = true
	}

	// Every receipt reaches onReceipt with the id Submit returned, and
	// node-smpp sees each deliver_sm acknowledged.
	for {
		mu.Lock()
		done := len(receipts) >= len(ids)
		mu.Unlock()
		if done {
			break
		}
		select {
		case <-gotReceipt:
		case <-ctx.Done():
			t.Fatalf("only %d of %d receipts came back", len(receipts), len(ids))
		}
	}
	mu.Lock()
	for id := range ids {
		r, ok := receipts[id]
		if !ok || r.Stat != smpp.StatDelivered || !r.Delivered {
			t.Errorf("receipt for %s: %+v (present %v)", id, r, ok)
		}
	}
	if len(receipts) != len(ids) {
		t.Errorf("receipts for unknown ids: %v", receipts)
	}
	mu.Unlock()
	for range ids {
		ev := n.next(time.Until(deadline(ctx)), func(ev nodeEvent) bool { return ev.Event == "receipt_ack" })
		if !ids[ev.ID] || ev.Status != 0 {
			t.Errorf("deliver_sm_resp for %s status %d", ev.ID, ev.Status)
		}
	}
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(interopTimeout)
	}
	return d
}

// TestInteropNodeSMPPRaw checks smsc.js itself with raw go-smpp PDUs, for
// what the client cannot do yet: a transmitter bind whose receipts go to a
// receiver bind, wrong credentials, and UDH (8- and 16-bit) and SAR parts
// logged one by one.
func TestInteropNodeSMPPRaw(t *testing.T) {
	n := startNodeSMSC(t, 1)
	dialNode := func() *esme {
		conn, err := net.DialTimeout("tcp", n.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return &esme{t: t, conn: conn, br: bufio.NewReader(conn)}
	}
	bindNode := func(e *esme, kind pdu.ID, password string, status pdu.Status) {
		t.Helper()
		seq := e.send(bindPDU(kind, interopSystem, password))
		e.expect(kind|0x80000000, seq, status)
	}

	bad := dialNode()
	bindNode(bad, pdu.BindTransceiverID, "wrong", 0x0E) // ESME_RINVPASWD
	bad.expectClosed()

	tx := dialNode()
	bindNode(tx, pdu.BindTransmitterID, interopPass, 0)
	// A receipt asked for before any receiver is bound waits for one.
	seq := tx.send(submitSM("Otpgate", 5, "447700900100", 0, []byte("early"), 1))
	early := smpp.FieldString(tx.expect(pdu.SubmitSMRespID, seq, 0), pdufield.MessageID)
	rx := dialNode()
	bindNode(rx, pdu.BindReceiverID, interopPass, 0)

	const to = "447700900101"
	type sent struct {
		scheme string
		p      pdu.Body
	}
	var parts []sent
	for i, body := range []string{"part one ", "part two"} {
		parts = append(parts, sent{"udh8", part("udh8", to, 0x42, 2, i+1, 0, []byte(body), 1)})
	}
	for i, body := range []string{"sixteen ", "bit ", "ref"} {
		parts = append(parts, sent{"udh16", part("udh16", to, 0x1234, 3, i+1, 0, []byte(body), 1)})
	}
	ucs2 := smpp.EncodeUCS2("Ваш код")
	for i, body := range [][]byte{ucs2[:6], ucs2[6:]} {
		parts = append(parts, sent{"sar", part("sar", to, 0x0707, 2, i+1, 8, body, 1)})
	}
	want := map[string]bool{early: true}
	for _, s := range parts {
		seq := tx.send(s.p)
		id := smpp.FieldString(tx.expect(pdu.SubmitSMRespID, seq, 0), pdufield.MessageID)
		want[id] = true
		ev := n.next(5*time.Second, func(ev nodeEvent) bool { return ev.Event == "submit_sm" && ev.ID == id })
		raw := smpp.FieldBytes(s.p, pdufield.ShortMessage)
		if ev.ShortMessageHex != hex.EncodeToString(raw) {
			t.Errorf("%s part: node-smpp octets %s, sent %x", s.scheme, ev.ShortMessageHex, raw)
		}
		switch s.scheme {
		case "udh8", "udh16":
			iei := map[string]int{"udh8": 0, "udh16": 8}[s.scheme]
			if ev.UDH == nil || ev.UDH.IEI != iei || ev.ESMClass&0x40 == 0 {
				t.Errorf("%s part: udh %+v esm_class 0x%02X", s.scheme, ev.UDH, ev.ESMClass)
			}
		case "sar":
			seqnum, _ := smpp.TLVBytes(s.p, pdutlv.Tag(0x020F))
			if ev.SAR == nil || ev.SAR.MsgRefNum != 0x0707 || ev.SAR.TotalSegments != 2 || ev.SAR.SegmentSeqnum != int(seqnum[0]) || ev.DataCoding != 8 {
				t.Errorf("sar part: %+v data_coding %d", ev.SAR, ev.DataCoding)
			}
		}
	}
	// Every receipt (the early one included) reaches the receiver, none the
	// transmitter.
	for len(want) > 0 {
		r := rx.receipt()
		if !want[r.textID] || r.tlvID != r.textID || r.stat != "DELIVRD" || r.state != 2 {
			t.Fatalf("unexpected receipt %+v", r)
		}
		delete(want, r.textID)
	}
	tx.expectNothing(50 * time.Millisecond)
	// Housekeeping: enquire_link and unbind.
	seq = tx.send(pdu.NewEnquireLink())
	tx.expect(pdu.EnquireLinkRespID, seq, 0)
	seq = tx.send(pdu.NewUnbind())
	tx.expect(pdu.UnbindRespID, seq, 0)
	tx.expectClosed()
}

// TestInteropNodeSMPPBindKindsMultipart: a transmitter bind sends and a
// receiver bind takes the receipts; long GSM-7 and UCS-2 texts go as
// concatenated parts (8-bit UDH, 16-bit UDH and SAR) that node-smpp receives
// in order with consistent headers, and that join back to the text.
func TestInteropNodeSMPPBindKindsMultipart(t *testing.T) {
	n := startNodeSMSC(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	for ci, concat := range []string{smpp.ConcatUDH8, smpp.ConcatUDH16, smpp.ConcatSAR} {
		var mu sync.Mutex
		receipts := map[string]int{} // id → bind that got it
		client, err := smpp.NewClient(smpp.Config{
			Name: "interop-" + concat, Addr: n.addr, SystemID: interopSystem, Password: interopPass,
			Binds:       []smpp.BindSpec{{Kind: smpp.BindTransmitter, Count: 1}, {Kind: smpp.BindReceiver, Count: 1}},
			BindTimeout: 3 * time.Second, SubmitTimeout: 3 * time.Second, Concat: concat,
		}, func(r smpp.Receipt) {
			mu.Lock()
			receipts[r.MessageID] = r.Bind
			mu.Unlock()
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan error, 1)
		go func() { ran <- client.Run(runCtx) }()
		for _, tt := range []struct{ text, enc string }{
			{strings.Repeat("Your code is 123456. ", 20), smpp.EncodingGSM7}, // 420 septets: 3 parts
			{strings.Repeat("Ваш код 123456. ", 7), smpp.EncodingUCS2},       // 112 units: 2 parts
		} {
			to := fmt.Sprintf("+4477009001%02d", ci)
			sent, err := client.Send(ctx, smpp.Message{From: "Otpgate", To: to, Text: tt.text})
			if err != nil {
				t.Fatalf("%s %s: Send: %v", concat, tt.enc, err)
			}
			if sent.Parts < 2 || len(sent.IDs) != sent.Parts || sent.Encoding != tt.enc {
				t.Fatalf("%s: sent %+v", concat, sent)
			}
			var joined strings.Builder
			ref := -1
			for i, id := range sent.IDs {
				ev := n.next(time.Until(deadline(ctx)), func(ev nodeEvent) bool { return ev.Event == "submit_sm" && ev.ID == id })
				raw, _ := hex.DecodeString(ev.ShortMessageHex)
				var seq, total, r int
				switch concat {
				case smpp.ConcatSAR:
					if ev.SAR == nil || ev.UDH != nil || ev.ESMClass&0x40 != 0 {
						t.Fatalf("%s part %d: sar %v udh %v esm 0x%02X", concat, i+1, ev.SAR, ev.UDH, ev.ESMClass)
					}
					seq, total, r = ev.SAR.SegmentSeqnum, ev.SAR.TotalSegments, ev.SAR.MsgRefNum
				default:
					want := map[string]int{smpp.ConcatUDH8: 0, smpp.ConcatUDH16: 8}[concat]
					if ev.UDH == nil || ev.UDH.IEI != want || ev.ESMClass&0x40 == 0 {
						t.Fatalf("%s part %d: udh %v esm 0x%02X", concat, i+1, ev.UDH, ev.ESMClass)
					}
					seq, total, r = ev.UDH.Seq, ev.UDH.Total, ev.UDH.Ref
					raw = raw[int(raw[0])+1:] // drop the UDH
				}
				if seq != i+1 || total != sent.Parts || (ref >= 0 && r != ref) {
					t.Fatalf("%s part %d: seq %d total %d ref %d (first ref %d)", concat, i+1, seq, total, r, ref)
				}
				ref = r
				text, _ := smpp.DecodeText(byte(ev.DataCoding), raw)
				joined.WriteString(text)
			}
			if joined.String() != tt.text {
				t.Fatalf("%s %s: parts join to %q, want %q", concat, tt.enc, joined.String(), tt.text)
			}
			// every part's receipt comes back, on the receiver bind
			for _, id := range sent.IDs {
				deadlineAt := time.Now().Add(5 * time.Second)
				for {
					mu.Lock()
					bind, ok := receipts[id]
					mu.Unlock()
					if ok {
						if kinds := client.Binds(); kinds[bind].Kind != smpp.BindReceiver {
							t.Fatalf("%s: receipt for %s on a %s bind", concat, id, kinds[bind].Kind)
						}
						break
					}
					if time.Now().After(deadlineAt) {
						t.Fatalf("%s: no receipt for part %s", concat, id)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}
		stop()
		<-ran
	}
}
