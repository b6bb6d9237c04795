package sip_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpgate/otpgate/sip"
	"github.com/otpgate/otpgate/sip/uas"
)

// BenchmarkCalls1000 runs 1,000 concurrent calls of 6 s of audio against an
// in-process simulator and reports the RTP pacing error (target: p99 ≤ 5 ms
// on 2 cores). One iteration is one round of 1,000 calls:
//
//	go test -run '^$' -bench Calls1000 -benchtime 1x ./sip/
func BenchmarkCalls1000(b *testing.B) {
	benchCalls(b, 1000, 300)
}

func benchCalls(b *testing.B, calls, packets int) {
	srv := startUAS(b, "udp", uas.Config{History: calls})
	audio := audioPattern(packets*160, 1)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		rep, err := sip.RunBench(ctx, sip.BenchOptions{Addr: srv.Addr(), Calls: calls, Audio: audio})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Log(rep)
		b.ReportMetric(float64(rep.P50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(rep.P99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(rep.Max.Microseconds())/1000, "max-ms")
	}
}
