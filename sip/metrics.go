package sip

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics, all labelled trunk="<Trunk.Name>":
//
//	otpgate_sip_calls_attempted_total          calls Place started (INVITE sent or about to be)
//	otpgate_sip_calls_total{outcome}           calls ended, by outcome: answered, busy, no_answer, failed
//	otpgate_sip_calls_in_progress              calls between INVITE and the end of the call
//	otpgate_sip_answer_seizure_ratio           answered / attempted since start (also: PromQL over the counters)
//	otpgate_sip_call_duration_seconds          answered calls, from the 200 to the end of the BYE
//	otpgate_sip_rtp_packets_sent_total         RTP packets sent
//	otpgate_sip_rtp_send_errors_total          RTP packets the socket refused
//	otpgate_rtp_pacing_error_seconds           how late each RTP packet left against its ideal 20 ms schedule
type clientMetrics struct {
	attempted  *metrics.Counter
	answered   *metrics.Counter
	inProgress *metrics.Gauge
	duration   *metrics.PrometheusHistogram
	rtpSent    *metrics.Counter
	rtpErrors  *metrics.Counter
	pacing     *metrics.PrometheusHistogram
	trunk      string
}

var (
	callDurationBuckets = []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300}
	pacingBuckets       = []float64{.0001, .0005, .001, .002, .005, .01, .02, .05, .1}
)

func newClientMetrics(trunk string) *clientMetrics {
	l := fmt.Sprintf(`trunk=%q`, trunk)
	m := &clientMetrics{
		trunk:      trunk,
		attempted:  metrics.GetOrCreateCounter(`otpgate_sip_calls_attempted_total{` + l + `}`),
		answered:   metrics.GetOrCreateCounter(`otpgate_sip_calls_total{` + l + `,outcome="answered"}`),
		inProgress: metrics.GetOrCreateGauge(`otpgate_sip_calls_in_progress{`+l+`}`, nil),
		duration:   metrics.GetOrCreatePrometheusHistogramExt(`otpgate_sip_call_duration_seconds{`+l+`}`, callDurationBuckets),
		rtpSent:    metrics.GetOrCreateCounter(`otpgate_sip_rtp_packets_sent_total{` + l + `}`),
		rtpErrors:  metrics.GetOrCreateCounter(`otpgate_sip_rtp_send_errors_total{` + l + `}`),
		pacing:     metrics.GetOrCreatePrometheusHistogramExt(`otpgate_rtp_pacing_error_seconds{`+l+`}`, pacingBuckets),
	}
	for _, o := range []Outcome{OutcomeBusy, OutcomeNoAnswer, OutcomeFailed} {
		m.outcome(o) // present from the start, at 0
	}
	att, ans := m.attempted, m.answered
	metrics.GetOrCreateGauge(`otpgate_sip_answer_seizure_ratio{`+l+`}`, func() float64 {
		a := att.Get()
		if a == 0 {
			return 0
		}
		return float64(ans.Get()) / float64(a)
	})
	return m
}

func (m *clientMetrics) outcome(o Outcome) *metrics.Counter {
	if o == OutcomeAnswered {
		return m.answered
	}
	return metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_sip_calls_total{trunk=%q,outcome=%q}`, m.trunk, o))
}

// latencyHist counts durations in 10 µs buckets up to 100 ms (and one
// more bucket for anything longer), lock-free, for exact-enough quantiles
// of the pacing error.
type latencyHist struct {
	buckets [latencyBuckets + 1]atomic.Uint64
	max     atomic.Int64
}

const (
	latencyStep    = 10 * time.Microsecond
	latencyBuckets = int(100 * time.Millisecond / latencyStep)
)

func (h *latencyHist) observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := int(d / latencyStep)
	if i > latencyBuckets {
		i = latencyBuckets
	}
	h.buckets[i].Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// quantiles returns the upper bound of the bucket holding each quantile q
// (0 < q ≤ 1), the number of samples and the largest one.
func (h *latencyHist) quantiles(qs ...float64) (out []time.Duration, n uint64, max time.Duration) {
	counts := make([]uint64, len(h.buckets))
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		n += counts[i]
	}
	out = make([]time.Duration, len(qs))
	max = time.Duration(h.max.Load())
	if n == 0 {
		return out, 0, max
	}
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return qs[order[a]] < qs[order[b]] })
	var cum uint64
	b := 0
	for _, qi := range order {
		rank := uint64(qs[qi]*float64(n) + 0.999999)
		if rank < 1 {
			rank = 1
		}
		for b < len(counts) && cum+counts[b] < rank {
			cum += counts[b]
			b++
		}
		if b >= latencyBuckets {
			out[qi] = max
		} else {
			out[qi] = min(time.Duration(b+1)*latencyStep, max)
		}
	}
	return out, n, max
}
