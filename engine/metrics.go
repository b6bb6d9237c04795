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

// Per connector (the SMS names are kept for every channel: dashboards
// already query them) and per channel:
//
//	otpgate_messages_total{channel,state}        submitted, delivered, read, undelivered, failed
//	otpgate_message_failures_total{channel,reason} sends refused, and messages reported failed or undelivered, by reason
//	otpgate_message_delivery_seconds{channel}    from the far end's acceptance to delivered

func observeSubmit(connector, channel string, d time.Duration) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_sms_submitted_total{connector=%q}`, connector)).Inc()
	metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_sms_submit_duration_seconds{connector=%q}`, connector)).Update(d.Seconds())
	countMessage(channel, MsgSubmitted)
}

func countMessage(channel, state string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_messages_total{channel=%q,state=%q}`, channel, state)).Inc()
}

func countSendFailure(connector, channel, reason string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_sms_send_failures_total{connector=%q,reason=%q}`, connector, reason)).Inc()
	countMessageFailure(channel, reason)
}

func countMessageFailure(channel, reason string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_message_failures_total{channel=%q,reason=%q}`, channel, reason)).Inc()
}

// channelOf is the channel of message mi of r ("" when r is nil).
func channelOf(r *store.Record, mi int) string {
	if r == nil || mi >= len(r.Messages) {
		return ""
	}
	return r.Messages[mi].Channel
}

func observeReceipt(connector, channel, state string, latency time.Duration) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_sms_receipts_total{connector=%q,state=%q}`, connector, state)).Inc()
	countMessage(channel, state)
	if latency <= 0 {
		return
	}
	metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_sms_receipt_latency_seconds{connector=%q}`, connector)).Update(latency.Seconds())
	if state == MsgDelivered {
		metrics.GetOrCreatePrometheusHistogram(fmt.Sprintf(`otpgate_message_delivery_seconds{channel=%q}`, channel)).Update(latency.Seconds())
	}
}

// Fraud guards: every refusal and every step left out, by code, channel
// ("" for the whole request) and the number's country.
//
//	otpgate_fraud_refusals_total{code,channel,country}  requests refused (destination, number type, velocity, lockout)
//	otpgate_fraud_skipped_steps_total{code,channel,country}  workflow steps left out

func fraudRefused(code, channel, country string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_fraud_refusals_total{code=%q,channel=%q,country=%q}`, code, channel, country)).Inc()
}

func fraudLocked() {
	metrics.GetOrCreateCounter(`otpgate_fraud_locks_total`).Inc()
}

func fraudSkipped(code, channel, country string) {
	metrics.GetOrCreateCounter(fmt.Sprintf(`otpgate_fraud_skipped_steps_total{code=%q,channel=%q,country=%q}`, code, channel, country)).Inc()
}
