package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/bench"
	"github.com/otpgate/otpgate/smpp/smsc"
)

func runBench(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: otpgate bench api|smpp [flags]")
	}
	switch args[0] {
	case "api":
		return runBenchAPI(args[1:])
	case "smpp":
		return runBenchSMPP(args[1:])
	}
	return fmt.Errorf("bench: unknown scenario %q (api, smpp)", args[0])
}

func runBenchSMPP(args []string) error {
	fs := flag.NewFlagSet("bench smpp", flag.ContinueOnError)
	binds := fs.Int("binds", 4, "transceiver binds")
	window := fs.Int("window", 50, "submit_sm window per bind")
	latency := fs.Duration("latency", 20*time.Millisecond, "SMSC response latency (the simulator's)")
	receipts := fs.Bool("receipts", true, "ask for and process delivery receipts")
	workers := fs.Int("workers", 0, "closed-loop workers (default 2 × binds × window)")
	duration := fs.Duration("duration", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up")
	out := fs.String("out", filepath.Join("bench-results", "smpp.json"), "JSON report path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *workers <= 0 {
		*workers = 2 * *binds * *window
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, err := bench.StartSMPP(ctx, bench.SMPPConfig{Binds: *binds, Window: *window, Latency: *latency, Receipts: *receipts})
	if err != nil {
		return err
	}
	defer run.Close()
	name := fmt.Sprintf("smpp %d×%d %s", *binds, *window, *latency)
	start := run.Receipts.Load()
	res, err := bench.Run(ctx, bench.Options{Name: name, Workers: *workers, Warmup: *warmup, Duration: *duration, Progress: os.Stderr}, run.Op)
	if err != nil {
		return err
	}
	res.Extra = map[string]string{"receipts": fmt.Sprintf("%d received (%.0f/s)", run.Receipts.Load()-start, float64(run.Receipts.Load()-start)/res.Duration)}
	if run.Limit > 0 {
		res.Extra["limit"] = fmt.Sprintf("binds × window / latency = %.0f/s; reached %.1f%%", run.Limit, 100*res.Rate/run.Limit)
	}
	bench.WriteTable(os.Stdout, res)
	return bench.WriteJSON(*out, res)
}

func runBenchAPI(args []string) error {
	fs := flag.NewFlagSet("bench api", flag.ContinueOnError)
	url := fs.String("url", "", "gateway to load (default: start one in this process, with its own data dir and SMSC simulator)")
	key := fs.String("key", "", "tenant API key (with --url)")
	mode := fs.String("mode", bench.ModeCreate, "create | create-check")
	workers := fs.Int("workers", 64, "concurrent closed-loop workers (one connection each)")
	duration := fs.Duration("duration", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up before measuring")
	sync := fs.String("sync", "always", "store sync mode of the gateway this bench starts: always | batch | none")
	smscListen := fs.String("smsc-listen", "127.0.0.1:2775", "with --url and create-check: where the bench's SMSC simulator listens (point the gateway's SMSC there)")
	out := fs.String("out", "", "JSON report path (default bench-results/api-MODE.json)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured part (gateway included when in-process) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join("bench-results", "api-"+*mode+".json")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	inbox := bench.NewCodeInbox()
	extra := map[string]string{}
	target, apiKey := *url, *key
	if target == "" {
		sim, err := smsc.New(smsc.Config{SystemID: "bench", Password: "bench", OnMessage: func(m smsc.Message) { inbox.Deliver(m.To, m.Text) }})
		if err != nil {
			return err
		}
		if err := sim.Listen("127.0.0.1:0"); err != nil {
			return err
		}
		defer sim.Close()
		dir, err := os.MkdirTemp("", "otpgate-bench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		apiKey = newAPIKey()
		cfg, err := ParseConfig(fmt.Appendf(nil, `server_key: %s
data_dir: %s
http: {listen: "127.0.0.1:0"}
store: {sync: %s}
log: {level: error}
smscs: [{name: sim, address: %q, system_id: bench, password: bench, window: 100}]
tenants: [{id: bench, api_keys: [%q], pending_policy: reject}]
`, newServerKey(), dir, *sync, sim.Addr(), api.HashKey(apiKey)))
		if err != nil {
			return err
		}
		g, err := startGateway(cfg, newLogger(cfg.Log, os.Stderr))
		if err != nil {
			return err
		}
		defer g.Shutdown(context.Background())
		target = "http://" + g.Addr()
		extra["gateway"] = "in-process, store sync " + *sync
	} else if *mode == bench.ModeCreateCheck {
		sim, err := smsc.New(smsc.Config{OnMessage: func(m smsc.Message) { inbox.Deliver(m.To, m.Text) }})
		if err != nil {
			return err
		}
		if err := sim.Listen(*smscListen); err != nil {
			return err
		}
		defer sim.Close()
		extra["gateway"] = *url + ", SMSC simulator on " + sim.Addr()
	}
	op, err := bench.APIOp(bench.APIConfig{URL: target, Key: apiKey, Mode: *mode, Codes: inbox, Conns: *workers})
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		// started after a warm-up's worth of time so the profile shows the steady state
		go func() {
			select {
			case <-time.After(*warmup):
			case <-ctx.Done():
				return
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(os.Stderr, "cpuprofile:", err)
			}
		}()
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, bench.Options{Name: "api " + *mode, Workers: *workers, Warmup: *warmup, Duration: *duration, Progress: os.Stderr}, op)
	if err != nil {
		return err
	}
	res.Extra = extra
	bench.WriteTable(os.Stdout, res)
	if err := bench.WriteJSON(*out, res); err != nil {
		return err
	}
	fmt.Printf("report: %s\n", *out)
	if res.Ops == 0 {
		return fmt.Errorf("bench api: no operation succeeded (first error: %s)", res.FirstErr)
	}
	return nil
}
