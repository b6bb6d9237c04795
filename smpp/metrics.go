package smpp

import (
	"fmt"

	"github.com/VictoriaMetrics/metrics"
)

// Metrics (VictoriaMetrics/metrics default set, exposed by /metrics):
//
//	otpgate_smpp_submits_total{smsc,status}       submit_sm outcomes: "ok", an ESME_* status name, "timeout", "link_lost", "canceled"
//	otpgate_smpp_submit_duration_seconds{smsc}    submit_sm written → submit_sm_resp received
//	otpgate_smpp_receipts_total{smsc,stat}        receipts by stat (unrecognised stats as "OTHER")
//	otpgate_smpp_bound{smsc}                      1 while a session is bound
//	otpgate_smpp_window_in_use{smsc}              submit_sm outstanding or waiting for a session
//	otpgate_smpp_reconnects_total{smsc}           sessions that ended and were retried
type clientMetrics struct {
	name        string
	duration    *metrics.PrometheusHistogram
	bound       *metrics.Gauge
	windowInUse *metrics.Gauge
	reconnects  *metrics.Counter
}

func newClientMetrics(name string) *clientMetrics {
	return &clientMetrics{
		name:        name,
		duration:    metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_smpp_submit_duration_seconds{smsc=%q}`, name)),
		bound:       metrics.GetOrCreateGauge(fmt.Sprintf(`otpgate_smpp_bound{smsc=%q}`, name), nil),
		windowInUse: metrics.GetOrCreateGauge(fmt.Sprintf(`otpgate_smpp_window_in_use{smsc=%q}`, name), nil),
		reconnects:  metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_reconnects_total{smsc=%q}`, name)),
	}
}

// submit counts one submit outcome; status is a short fixed label value.
func (m *clientMetrics) submit(status string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_submits_total{smsc=%q,status=%q}`, m.name, status)).Inc()
}

// receipt counts one receipt by its stat, folding unknown values into
// "OTHER" so an SMSC cannot blow up label cardinality.
func (m *clientMetrics) receipt(stat string) {
	if _, ok := statAliases[stat]; !ok {
		stat = "OTHER"
	}
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_smpp_receipts_total{smsc=%q,stat=%q}`, m.name, stat)).Inc()
}
