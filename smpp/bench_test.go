package smpp_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/otpgate/otpgate/smpp"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// BenchmarkSubmit: submits through 4 binds × window 50 to the simulator on
// loopback, without receipts, from many goroutines.
func BenchmarkSubmit(b *testing.B) {
	sim, err := smsc.New(smsc.Config{ReceiptDelay: -1, InboxSize: 1024})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	c, err := smpp.NewClient(smpp.Config{
		Name: fmt.Sprintf("bench%d", clientSeq.Add(1)), Addr: sim.Addr(),
		SystemID: smsc.DefaultSystemID, Password: smsc.DefaultPassword,
		Binds: []smpp.BindSpec{{Count: 4}}, Window: 50,
	}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(3 * time.Second); ; {
		bound := 0
		for _, st := range c.Binds() {
			if st.Bound {
				bound++
			}
		}
		if bound == 4 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("binds not up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Submit(ctx, smpp.Message{From: "Otpgate", To: "+447911123456", Text: "Your code is 123456"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submits/s")
}
