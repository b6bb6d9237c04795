package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/bench"
	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/smpp/smsc"
)

// runBenchMemory measures the gateway's resident memory with a large store:
// it fills a data directory through the store's batch path (records as the
// engine writes them: ended ones with their purge deadline, pending ones
// with their code and expiry), then starts `otpgate serve` on it as a
// separate process, drives create-then-check through its API while
// sampling that process's resident set, and reports the peak.
func runBenchMemory(args []string) error {
	fs := flag.NewFlagSet("bench memory", flag.ContinueOnError)
	records := fs.Int("records", 10_000_000, "verifications to store")
	pending := fs.Int("pending", 1_000_000, "of them pending")
	batch := fs.Int("batch", 2000, "records per batch")
	dir := fs.String("dir", "", "data directory (default: a new temporary one, removed after)")
	duration := fs.Duration("duration", 20*time.Second, "API load on the filled gateway")
	workers := fs.Int("workers", 64, "API workers")
	out := fs.String("out", filepath.Join("bench-results", "memory.json"), "JSON report path")
	gatewayBin := fs.String("gateway-bin", "", "otpgate binary to run the gateway with (default: this one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pending > *records || *records <= 0 || *batch <= 0 {
		return errors.New("bench memory: need 0 < records, pending ≤ records, batch > 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *dir == "" {
		d, err := os.MkdirTemp("", "otpgate-mem")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	res := bench.Result{Name: fmt.Sprintf("memory %d verifications, %d pending", *records, *pending), Workers: *workers, StartedAt: time.Now(), Extra: map[string]string{}}

	// 1. fill
	start := time.Now()
	disk, err := fillStore(ctx, filepath.Join(*dir, "store"), *records, *pending, *batch)
	if err != nil {
		return err
	}
	fill := time.Since(start)
	res.Extra["fill"] = fmt.Sprintf("%d records in %s (%.0f/s) through store.InsertBatch; %d MiB on disk", *records, fill.Round(time.Second), float64(*records)/fill.Seconds(), disk>>20)
	fmt.Fprintf(os.Stderr, "bench memory: %s\n", res.Extra["fill"])

	// 2. the gateway, as its own process, on the filled directory
	inbox := bench.NewCodeInbox()
	sim, err := smsc.New(smsc.Config{SystemID: "bench", Password: "bench", ReceiptDelay: time.Millisecond,
		OnMessage: func(m smsc.Message) { inbox.Deliver(m.To, m.Text) }})
	if err != nil {
		return err
	}
	if err := sim.Listen("127.0.0.1:0"); err != nil {
		return err
	}
	defer sim.Close()
	key := newAPIKey()
	cfgPath := filepath.Join(*dir, "otpgate.yaml")
	httpAddr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`server_key: %s
data_dir: %s
http: {listen: %q}
log: {level: error}
smscs: [{name: sim, address: %q, system_id: bench, password: bench, window: 100}]
tenants: [{id: bench, api_keys: [%q], pending_policy: reject, fraud: {velocity: {country: {off: true}, prefix: {off: true}}}}]
`, newServerKey(), *dir, httpAddr, sim.Addr(), api.HashKey(key))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	self := *gatewayBin
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, self, "serve", "--config", cfgPath)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	if err := waitHTTP(ctx, "http://"+httpAddr+"/readyz", 60*time.Second); err != nil {
		return fmt.Errorf("bench memory: the gateway did not become ready: %w", err)
	}
	idle, _ := rss(cmd.Process.Pid)
	res.Extra["rss_started"] = fmt.Sprintf("%d MiB resident after start on the filled store", idle>>20)

	// 3. load, sampling the gateway's resident set
	var peak atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
				if v, err := rss(cmd.Process.Pid); err == nil && v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	op, err := bench.APIOp(bench.APIConfig{URL: "http://" + httpAddr, Key: key, Mode: bench.ModeCreateCheck, Codes: inbox, Conns: *workers})
	if err != nil {
		stopSampling()
		return err
	}
	load, err := bench.Run(ctx, bench.Options{Name: "create-check on the filled gateway", Workers: *workers, Warmup: time.Second, Duration: *duration, Progress: os.Stderr}, op)
	stopSampling()
	if err != nil {
		return err
	}
	end, _ := rss(cmd.Process.Pid)
	hwm, _ := statusField(cmd.Process.Pid, "VmHWM:")
	res.Ops, res.Errors, res.Duration, res.Rate = load.Ops, load.Errors, load.Duration, load.Rate
	res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs = load.P50Ms, load.P90Ms, load.P99Ms, load.MaxMs
	res.Extra["load"] = fmt.Sprintf("create-check %.0f/s for %s", load.Rate, *duration)
	res.Extra["rss_peak"] = fmt.Sprintf("%d MiB resident at most while loaded (sampled every 100 ms; VmHWM %d MiB); %d MiB at the end; target 512 MiB", peak.Load()>>20, hwm>>20, end>>20)
	bench.WriteTable(os.Stdout, res)
	if err := bench.WriteJSON(*out, res); err != nil {
		return err
	}
	if load.Ops == 0 {
		return fmt.Errorf("bench memory: no create-check succeeded (%s)", load.FirstErr)
	}
	return nil
}

// fillStore writes records verifications (pending of them pending) with
// InsertBatch and returns the disk use.
func fillStore(ctx context.Context, dir string, records, pending, batch int) (uint64, error) {
	st, err := store.Open(store.Options{Dir: dir, Sync: store.SyncNone})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	now := time.Now().UTC()
	hash, sealed := make([]byte, 32), make([]byte, 46) // an HMAC-SHA256, and AES-GCM of a 6-digit code
	_, _ = rand.Read(hash)
	_, _ = rand.Read(sealed)
	text := "Bench: your code is {code}. It expires in 10 minutes."
	recs := make([]*store.Record, 0, batch)
	last := time.Now()
	for i := 0; i < records; i++ {
		id := fmt.Sprintf("f%015d", i)
		number := fmt.Sprintf("+4479%08d", i%100_000_000)
		created := now.Add(-time.Duration(records-i) * time.Millisecond)
		r := &store.Record{
			ID: id, Tenant: "bench", Number: number, Country: "GB",
			Workflow: []string{"sms"}, MaxAttempts: 5, CodeLength: 6, CodeType: "numeric",
			CodeHash: hash, Template: text, SenderID: "Otpgate", Locale: "en",
			CreatedAt: created, UpdatedAt: created, ExpiresAt: created.Add(10 * time.Minute),
			Messages: []store.Message{{Channel: "sms", Connector: "sim", MessageID: strconv.FormatInt(int64(1e9+i), 16),
				State: "delivered", Tries: 1, QueuedAt: created, SubmittedAt: created, DoneAt: created}},
			Events: []store.Event{
				{At: created, Type: "created", Channel: "sms"},
				{At: created, Type: "submitted", Channel: "sms", Connector: "sim", MessageID: strconv.FormatInt(int64(1e9+i), 16), Detail: "default"},
				{At: created, Type: "delivered", Channel: "sms", Connector: "sim"},
			},
		}
		if i < pending {
			// pending: the code still sealed, expiring a day on (so the
			// expiry timers do not all run during the measurement)
			r.Status, r.CodeSealed = "pending", sealed
			r.ExpiresAt = now.Add(24 * time.Hour)
			r.Deadlines = []store.Deadline{{At: r.ExpiresAt, Kind: "expire"}}
		} else {
			r.Status, r.Attempts = "verified", 1
			r.Events = append(r.Events, store.Event{At: created, Type: "verified"})
			r.Deadlines = []store.Deadline{{At: created.Add(7 * 24 * time.Hour), Kind: "purge"}}
		}
		recs = append(recs, r)
		if len(recs) == batch || i == records-1 {
			if err := st.InsertBatch(recs); err != nil {
				return 0, err
			}
			recs = recs[:0]
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				fmt.Fprintf(os.Stderr, "bench memory: %d of %d stored\n", i+1, records)
			}
		}
	}
	return st.DiskUsage(), nil
}

// rss is a process's resident set in bytes.
func rss(pid int) (int64, error) { return statusField(pid, "VmRSS:") }

func statusField(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("%s not in /proc/%d/status", field, pid)
}

// freeLoopbackAddr returns a loopback address with a free TCP port.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitHTTP polls url until it answers 200, for up to limit.
func waitHTTP(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
