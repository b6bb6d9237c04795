package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// syncBuffer is a bytes.Buffer safe for the gateway's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogsNeverHoldCodes runs a full flow with debug logs (gateway and
// simulator) and looks for the code in them. An alphanumeric 10-character
// code cannot turn up in a log line by chance.
func TestLogsNeverHoldCodes(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim := startSim(t, smsc.Config{ReceiptDelay: 5 * time.Millisecond, Log: log})
	cfg, err := config.Parse([]byte("server_key: "+testKey+"\n"+simYAML(sim.Addr())+tenantsYAML()), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.HTTP.Listen = t.TempDir(), "127.0.0.1:0"
	g, err := startGateway(cfg, source{}, log)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, "http://"+g.Addr())
	c := client{t, "http://" + g.Addr(), keyAcme}
	var codes []string
	for _, num := range []string{"+14155552681", "+14155552682"} {
		cr := c.create(`{"number":"` + num + `","code_type":"alphanumeric","code_length":10,"template":"Code: {code}"}`)
		code := strings.TrimPrefix(waitMessage(t, sim, num, 1).Text, "Code: ")
		codes = append(codes, code)
		eventually(t, 5*time.Second, "receipt", func() bool { return strings.Contains(eventTypes(c.get(cr.ID)), "delivered") })
		c.check(cr.ID, strings.ToLower(code[:5])+"WRONG")
		if r := c.check(cr.ID, code); !r.Verified {
			t.Fatalf("check: %+v", r)
		}
	}
	if err := g.Shutdown(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if len(out) < 500 {
		t.Fatalf("too few logs to judge (%d bytes)", len(out))
	}
	for _, code := range codes {
		if strings.Contains(strings.ToUpper(out), code) {
			t.Fatalf("a log line holds the code %s", code)
		}
	}
}
