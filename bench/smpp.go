package bench

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/smpp"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// SMPPConfig configures the smpp scenario: one client with Binds
// transceiver binds of Window each, against an SMSC simulator in this
// process that answers each submit_sm after Latency.
type SMPPConfig struct {
	Binds    int           // default 4
	Window   int           // default 50
	Latency  time.Duration // SMSC response latency; default 0
	Receipts bool          // ask for and process delivery receipts
	Text     string        // default a 6-digit OTP text (GSM-7, one part)
}

// SMPPRun is a prepared smpp scenario: Op drives it; Close stops it.
type SMPPRun struct {
	Op       Op
	Limit    float64 // binds × window / latency, submits per second (0 without latency)
	Receipts *atomic.Int64
	close    func()
}

// Close stops the client and the simulator.
func (r *SMPPRun) Close() { r.close() }

// StartSMPP starts the simulator and a bound client and returns the
// scenario's operation: one submit_sm, timed until its submit_sm_resp.
func StartSMPP(ctx context.Context, cfg SMPPConfig) (*SMPPRun, error) {
	if cfg.Binds <= 0 {
		cfg.Binds = 4
	}
	if cfg.Window <= 0 {
		cfg.Window = 50
	}
	if cfg.Text == "" {
		cfg.Text = "Your Otpgate verification code is 482913. It expires in 10 min."
	}
	receiptDelay := time.Duration(-1)
	if cfg.Receipts {
		receiptDelay = time.Millisecond
	}
	sim, err := smsc.New(smsc.Config{SystemID: "bench", Password: "bench", SubmitDelay: cfg.Latency, ReceiptDelay: receiptDelay, InboxSize: 1000})
	if err != nil {
		return nil, err
	}
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		return nil, err
	}
	receipts := new(atomic.Int64)
	client, err := smpp.NewClient(smpp.Config{
		Name: "bench", Addr: sim.Addr(), SystemID: "bench", Password: "bench",
		Binds: []smpp.BindSpec{{Kind: "transceiver", Count: cfg.Binds}}, Window: cfg.Window,
		SubmitTimeout: 10 * time.Second, ReceiptQueue: 65536,
	}, func(smpp.Receipt) { receipts.Add(1) }, slog.New(slog.DiscardHandler))
	if err != nil {
		sim.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = client.Run(runCtx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for !allBound(client, cfg.Binds) {
		if time.Now().After(deadline) {
			cancel()
			<-done
			sim.Close()
			return nil, fmt.Errorf("bench smpp: %d binds not up within 10s (last error: %v)", cfg.Binds, client.LastError())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var seq atomic.Uint64
	run := &SMPPRun{
		Receipts: receipts,
		Op: func(ctx context.Context, _ int) error {
			to := fmt.Sprintf("+39347%07d", seq.Add(1)%10_000_000)
			_, err := client.Submit(ctx, smpp.Message{From: "Otpgate", To: to, Text: cfg.Text})
			return err
		},
		close: func() { cancel(); <-done; sim.Close() },
	}
	if cfg.Latency > 0 {
		run.Limit = float64(cfg.Binds*cfg.Window) / cfg.Latency.Seconds()
	}
	return run, nil
}

func allBound(c *smpp.Client, n int) bool {
	up := 0
	for _, b := range c.Binds() {
		if b.Bound {
			up++
		}
	}
	return up >= n
}
