package sip

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// The RTP a stream sends: sequence numbers one apart, timestamps 160 apart
// (fewer for a short last packet), one SSRC, the marker on the first packet
// only, payloads that join back into the audio, 20 ms apart.
func TestStreamRTPHeaders(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	audio := pattern(10*frameSamples + 37) // 11 packets, the last one short
	hist := new(latencyHist)
	st := newStream(tx, rx.LocalAddr().(*net.UDPAddr).AddrPort(), 0, audio, hist, newClientMetrics("pacer-test"))
	thePacer.add(st)

	var got []byte
	var pkts []rtp.Packet
	var arrivals []time.Time
	buf := make([]byte, 1500)
	rx.SetReadDeadline(time.Now().Add(2 * time.Second))
	for len(pkts) < 11 {
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(pkts), err)
		}
		arrivals = append(arrivals, time.Now())
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p)
		got = append(got, p.Payload...)
	}
	select {
	case <-st.done:
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not finish")
	}
	if !bytes.Equal(got, audio) {
		t.Fatalf("payloads do not join back into the audio (%d vs %d bytes)", len(got), len(audio))
	}
	for i, p := range pkts {
		if p.Version != 2 || p.PayloadType != 0 {
			t.Errorf("packet %d: version %d, payload type %d", i, p.Version, p.PayloadType)
		}
		if p.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v", i, p.Marker)
		}
		if i == 0 {
			continue
		}
		prev := pkts[i-1]
		if p.SequenceNumber != prev.SequenceNumber+1 {
			t.Errorf("packet %d: seq %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
		}
		if p.Timestamp != prev.Timestamp+uint32(len(prev.Payload)) || len(prev.Payload) != frameSamples {
			t.Errorf("packet %d: timestamp %d after %d (%d bytes)", i, p.Timestamp, prev.Timestamp, len(prev.Payload))
		}
		if p.SSRC != prev.SSRC {
			t.Errorf("packet %d: SSRC changed %x → %x", i, prev.SSRC, p.SSRC)
		}
	}
	if len(pkts[10].Payload) != 37 {
		t.Errorf("last packet has %d bytes, want 37", len(pkts[10].Payload))
	}
	// 10 intervals of 20 ms: about 200 ms from first to last.
	if span := arrivals[10].Sub(arrivals[0]); span < 150*time.Millisecond {
		t.Errorf("11 packets arrived within %v: not paced at 20 ms", span)
	}
	if st.sent.Load() != 11 {
		t.Errorf("sent %d, want 11", st.sent.Load())
	}
	if _, n, _ := hist.quantiles(0.5); n != 11 {
		t.Errorf("pacing histogram has %d samples, want 11", n)
	}
}

// Streams spread over the pacer's slots and a stopped one leaves at once.
func TestPacerSlotsAndStop(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	go func() { // drain
		b := make([]byte, 1500)
		for {
			if _, err := rx.Read(b); err != nil {
				return
			}
		}
	}()
	m := newClientMetrics("pacer-test")
	hist := new(latencyHist)
	var sts []*stream
	for i := 0; i < 2*pacerSlots; i++ {
		st := newStream(rx, rx.LocalAddr().(*net.UDPAddr).AddrPort(), 8, pattern(100*frameSamples), hist, m)
		thePacer.add(st)
		sts = append(sts, st)
	}
	thePacer.mu.Lock()
	for i := range pacerSlots {
		if n := len(thePacer.slots[i]); n != 2 {
			t.Errorf("slot %d has %d streams, want 2", i, n)
		}
	}
	thePacer.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	for _, st := range sts {
		thePacer.stop(st)
		thePacer.stop(st) // twice is fine
		select {
		case <-st.done:
		default:
			t.Fatal("stopped stream not done")
		}
		if n := st.sent.Load(); n < 2 || n > 10 {
			t.Errorf("stream sent %d packets in 100 ms", n)
		}
	}
	deadline := time.Now().Add(time.Second)
	for {
		thePacer.mu.Lock()
		running, n := thePacer.running, thePacer.n
		thePacer.mu.Unlock()
		if n != 0 {
			t.Fatalf("pacer still has %d streams", n)
		}
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle pacer goroutine did not stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLatencyHistQuantiles(t *testing.T) {
	h := new(latencyHist)
	for i := 1; i <= 100; i++ {
		h.observe(time.Duration(i) * 100 * time.Microsecond) // 0.1 … 10 ms
	}
	q, n, mx := h.quantiles(0.5, 0.99)
	if n != 100 || mx != 10*time.Millisecond {
		t.Fatalf("n %d max %v", n, mx)
	}
	if q[0] < 5*time.Millisecond || q[0] > 5*time.Millisecond+latencyStep {
		t.Errorf("p50 %v, want ~5ms", q[0])
	}
	if q[1] < 9900*time.Microsecond || q[1] > 10*time.Millisecond {
		t.Errorf("p99 %v, want ~9.9ms", q[1])
	}
	h.observe(time.Second)
	if q, _, _ := h.quantiles(1); q[0] != time.Second {
		t.Errorf("p100 %v, want the max 1s", q[0])
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}
