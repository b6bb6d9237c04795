package smpp

import (
	"fmt"
	"strconv"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics (VictoriaMetrics/metrics default set, exposed by /metrics). Labels:
// smsc is Config.Name, bind the bind's index "0".."n-1" (BindState.Index).
//
//	otpgate_smpp_bound{smsc,bind}                          1 while the bind is bound
//	otpgate_smpp_window_in_use{smsc,bind}                  window slots taken: submit_sm outstanding, or about to be sent
//	otpgate_smpp_submits_total{smsc,bind,status}           submit_sm attempts by outcome: "ok", the ESME_* name of a refusal
//	                                                       (ESME_RTHROTTLED included), "timeout", "link_lost", "canceled", "bad_response"
//	otpgate_smpp_submit_duration_seconds{smsc,bind}        submit_sm written → submit_sm_resp received
//	otpgate_smpp_receipts_total{smsc,bind,stat}            receipts by stat (unrecognised stats as "OTHER")
//	otpgate_smpp_throttle_pauses_total{smsc,bind}          pauses after ESME_RTHROTTLED / ESME_RMSGQFUL
//	otpgate_smpp_timeouts_total{smsc,bind}                 submit_sm without a response within SubmitTimeout
//	otpgate_smpp_timeout_retries_total{smsc,bind}          of those, sent again on another bind (bind: where it timed out)
//	otpgate_smpp_late_responses_total{smsc,bind}           submit_sm_resp that came after the submit stopped waiting (timeout, canceled):
//	                                                       with status 0, a message the caller was told had an unknown outcome (a possible duplicate)
//	otpgate_smpp_reconnects_total{smsc,bind}               bound sessions that ended and were retried
//	otpgate_smpp_submits_waiting{smsc}                     submits waiting for a bound bind with a free window slot
//	otpgate_smpp_wait_canceled_total{smsc}                 submits whose context ended while waiting (nothing was sent)
type clientMetrics struct {
	waiting      *metrics.Gauge
	waitCanceled *metrics.Counter
}

func newClientMetrics(name string) *clientMetrics {
	return &clientMetrics{
		waiting:      metrics.GetOrCreateGauge(fmt.Sprintf(`otpgate_smpp_submits_waiting{smsc=%q}`, name), nil),
		waitCanceled: metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_wait_canceled_total{smsc=%q}`, name)),
	}
}

// bindMetrics are one bind's series.
type bindMetrics struct {
	labels         string // smsc="…",bind="…"
	bound          *metrics.Gauge
	windowInUse    *metrics.Gauge
	duration       *metrics.PrometheusHistogram
	throttlePauses *metrics.Counter
	timeouts       *metrics.Counter
	timeoutRetries *metrics.Counter
	lateResponses  *metrics.Counter
	reconnects     *metrics.Counter
	ok             *metrics.Counter // submits_total{status="ok"}, the hot one
}

func newBindMetrics(name string, index int) *bindMetrics {
	l := fmt.Sprintf(`smsc=%q,bind=%q`, name, strconv.Itoa(index))
	return &bindMetrics{
		labels:         l,
		bound:          metrics.GetOrCreateGauge(`otpgate_smpp_bound{`+l+`}`, nil),
		windowInUse:    metrics.GetOrCreateGauge(`otpgate_smpp_window_in_use{`+l+`}`, nil),
		duration:       metrics.GetOrCreatePrometheusHistogram(`otpgate_smpp_submit_duration_seconds{` + l + `}`),
		throttlePauses: metrics.GetOrCreateCounter(`otpgate_smpp_throttle_pauses_total{` + l + `}`),
		timeouts:       metrics.GetOrCreateCounter(`otpgate_smpp_timeouts_total{` + l + `}`),
		timeoutRetries: metrics.GetOrCreateCounter(`otpgate_smpp_timeout_retries_total{` + l + `}`),
		lateResponses:  metrics.GetOrCreateCounter(`otpgate_smpp_late_responses_total{` + l + `}`),
		reconnects:     metrics.GetOrCreateCounter(`otpgate_smpp_reconnects_total{` + l + `}`),
		ok:             metrics.GetOrCreateCounter(`otpgate_smpp_submits_total{` + l + `,status="ok"}`),
	}
}

// submit counts one submit_sm attempt's outcome; status is a short fixed
// label value.
func (m *bindMetrics) submit(status string) {
	if status == "ok" {
		m.ok.Inc()
		return
	}
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_submits_total{%s,status=%q}`, m.labels, status)).Inc()
}

// receipt counts one receipt by its stat, folding unknown values into
// "OTHER" so an SMSC cannot blow up label cardinality.
func (m *bindMetrics) receipt(stat string) {
	if _, ok := statAliases[stat]; !ok {
		stat = "OTHER"
	}
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_receipts_total{%s,stat=%q}`, m.labels, stat)).Inc()
}
