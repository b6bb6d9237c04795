package sip

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// The media clock: G.711 at 8 kHz in 20 ms packets of 160 samples (one
// byte each).
const (
	ptime         = 20 * time.Millisecond
	frameSamples  = 160
	pacerSlots    = 10
	pacerSlotTime = ptime / pacerSlots
)

// pacer is the one goroutine that sends every RTP packet of every call of
// every Client. Its clock ticks every pacerSlotTime (2 ms) on a fixed grid;
// tick k serves slot k mod pacerSlots, so each slot comes round every 20 ms.
// A stream joins the least loaded slot and from then on owns the grid
// instants of that slot: its packet n is due at (its first tick) + n·20 ms,
// whatever the other streams do. Spreading streams over slots keeps a tick's
// burst of writes short, and that burst is most of the pacing error.
//
// The goroutine runs only while some stream is active.
type pacer struct {
	mu      sync.Mutex
	slots   [pacerSlots][]*stream
	n       int
	running bool
}

var thePacer pacer

func (p *pacer) add(s *stream) {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := 0
	for i := 1; i < pacerSlots; i++ {
		if len(p.slots[i]) < len(p.slots[best]) {
			best = i
		}
	}
	s.slot, s.idx = best, len(p.slots[best])
	p.slots[best] = append(p.slots[best], s)
	p.n++
	if !p.running {
		p.running = true
		go p.run()
	}
}

// remove takes s off its slot (p.mu held) and marks it finished.
func (p *pacer) removeLocked(s *stream) {
	if s.idx < 0 {
		return
	}
	list := p.slots[s.slot]
	last := len(list) - 1
	list[s.idx] = list[last]
	list[s.idx].idx = s.idx
	list[last] = nil
	p.slots[s.slot] = list[:last]
	s.idx = -1
	p.n--
	close(s.done)
}

// stop ends s early (hang-up, cancellation); safe to call more than once and
// after s finished by itself.
func (p *pacer) stop(s *stream) {
	p.mu.Lock()
	p.removeLocked(s)
	p.mu.Unlock()
}

func (p *pacer) run() {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	epoch := time.Now()
	for k := int64(1); ; k++ {
		due := epoch.Add(time.Duration(k) * pacerSlotTime)
		if d := time.Until(due); d > 0 {
			t.Reset(d)
			<-t.C
		}
		p.mu.Lock()
		if p.n == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		list := p.slots[k%pacerSlots]
		for i := 0; i < len(list); {
			s := list[i]
			if s.tick(due) {
				i++
				continue
			}
			p.removeLocked(s) // moves the last stream to i
			list = p.slots[k%pacerSlots]
		}
		p.mu.Unlock()
	}
}

// stream is the RTP sender of one call.
type stream struct {
	conn   *net.UDPConn
	remote netip.AddrPort
	audio  []byte
	off    int
	pt     uint8
	seq    uint16
	ts     uint32
	ssrc   uint32
	marker bool

	next time.Time // when the next packet is due (zero: at the first tick)
	sent atomic.Int64
	buf  [12 + frameSamples]byte

	hist    *latencyHist
	metrics *clientMetrics

	slot, idx int
	done      chan struct{} // closed when the stream is off the pacer
}

func newStream(conn *net.UDPConn, remote netip.AddrPort, pt uint8, audio []byte, hist *latencyHist, m *clientMetrics) *stream {
	var r [10]byte
	randRead(r[:])
	return &stream{
		conn: conn, remote: remote, pt: pt, audio: audio,
		seq:    uint16(r[0])<<8 | uint16(r[1]),
		ts:     uint32(r[2])<<24 | uint32(r[3])<<16 | uint32(r[4])<<8 | uint32(r[5]),
		ssrc:   uint32(r[6])<<24 | uint32(r[7])<<16 | uint32(r[8])<<8 | uint32(r[9]),
		marker: true,
		hist:   hist, metrics: m,
		idx:  -1,
		done: make(chan struct{}),
	}
}

// tick sends the packets of s that are due by the grid instant now (one,
// or more to catch up after a stall) and reports whether s has more to send.
func (s *stream) tick(now time.Time) bool {
	if s.next.IsZero() {
		s.next = now
	}
	for !s.next.After(now) {
		if s.off >= len(s.audio) {
			return false
		}
		end := min(s.off+frameSamples, len(s.audio))
		h := rtp.Header{
			Version:        2,
			Marker:         s.marker,
			PayloadType:    s.pt,
			SequenceNumber: s.seq,
			Timestamp:      s.ts,
			SSRC:           s.ssrc,
		}
		n, _ := h.MarshalTo(s.buf[:])
		n += copy(s.buf[n:], s.audio[s.off:end])
		late := time.Since(s.next)
		s.hist.observe(late)
		s.metrics.pacing.Update(late.Seconds())
		if _, err := s.conn.WriteToUDPAddrPort(s.buf[:n], s.remote); err != nil {
			s.metrics.rtpErrors.Inc()
		} else {
			s.metrics.rtpSent.Inc()
		}
		s.sent.Add(1)
		s.ts += uint32(end - s.off)
		s.seq++
		s.marker = false
		s.off = end
		s.next = s.next.Add(ptime)
	}
	return s.off < len(s.audio)
}
