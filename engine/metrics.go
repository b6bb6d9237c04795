package engine

import (
	"fmt"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/otpgate/otpgate/engine/store"
)

// Metric names are part of the operator interface (dashboards query them).

func countVerification(event string, r *store.Record) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_verifications_total{event=%q,tenant=%q,country=%q}`, event, r.Tenant, r.Country)).Inc()
}

func checksTotal(res CheckResult) {
	result := "verified"
	if !res.Verified {
		result = res.Reason
	}
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_checks_total{result=%q}`, result)).Inc()
}

func observeSubmit(connector string, d time.Duration) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_sms_submitted_total{connector=%q}`, connector)).Inc()
	metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_sms_submit_duration_seconds{connector=%q}`, connector)).Update(d.Seconds())
}

func observeReceipt(connector, state string, latency time.Duration) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_sms_receipts_total{connector=%q,state=%q}`, connector, state)).Inc()
	if latency > 0 {
		metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_sms_receipt_latency_seconds{connector=%q}`, connector)).Update(latency.Seconds())
	}
}
