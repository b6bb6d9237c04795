package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/bench"
	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/rcs"
	rcssim "github.com/otpgate/otpgate/rcs/sim"
	"github.com/otpgate/otpgate/sip"
	"github.com/otpgate/otpgate/sip/uas"
	"github.com/otpgate/otpgate/smpp/smsc"
	"github.com/otpgate/otpgate/tts"
	wasim "github.com/otpgate/otpgate/whatsapp/sim"
)

const benchUsage = "usage: otpgate bench api|e2e|profile|ceiling|smpp|voice|get|memory|readme [flags] (otpgate bench SCENARIO --help for its flags)"

func runBench(args []string) error {
	if len(args) == 0 {
		return errors.New(benchUsage)
	}
	if isHelp(args[0]) {
		fmt.Println(benchUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "api":
		return runBenchAPI(args[1:])
	case "e2e": // the whole path with every leg: bench api --mode e2e
		return runBenchAPI(append([]string{"--mode", bench.ModeE2E}, args[1:]...))
	case "ceiling": // the trivial handler alone
		return runBenchCeiling(args[1:])
	case "smpp":
		return runBenchSMPP(args[1:])
	case "voice":
		return runBenchVoice(args[1:])
	case "get":
		return runBenchGet(args[1:])
	case "memory":
		return runBenchMemory(args[1:])
	case "profile":
		return runBenchProfile(args[1:])
	case "readme":
		return runBenchReadme(args[1:])
	}
	return fmt.Errorf("bench: unknown scenario %q (api, e2e, profile, ceiling, smpp, voice, get, memory, readme)", args[0])
}

// runBenchVoice places N concurrent calls against a SIP simulator this
// process starts, each playing a spoken code, and reports the RTP pacing
// error and the CPU time used.
func runBenchVoice(args []string) error {
	fs := flag.NewFlagSet("bench voice", flag.ContinueOnError)
	calls := fs.Int("calls", 1000, "concurrent calls")
	cps := fs.Float64("cps", 200, "calls per second while setting up")
	out := fs.String("out", filepath.Join("bench-results", "voice.json"), "JSON report path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sim, err := uas.New(uas.Config{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if err := sim.Listen("udp", "127.0.0.1:0"); err != nil {
		return err
	}
	defer sim.Close()
	r, err := tts.New(tts.Options{})
	if err != nil {
		return err
	}
	audio, err := r.Render("482913", "en", tts.MuLaw)
	if err != nil {
		return err
	}
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	fmt.Fprintf(os.Stderr, "bench voice: %d calls of %.1f s each against %s\n", *calls, float64(len(audio))/8000, sim.Addr())
	rep, err := sip.RunBench(ctx, sip.BenchOptions{Addr: sim.Addr(), Calls: *calls, Audio: audio, CPS: *cps, Log: slog.New(slog.DiscardHandler)})
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	fmt.Println(rep.String())
	fmt.Printf("CPU: %v over %v (%.0f%% of one core, both simulator and caller)\n", cpu.Round(time.Millisecond), rep.Elapsed.Round(time.Millisecond), 100*cpu.Seconds()/rep.Elapsed.Seconds())
	res := bench.Result{Name: fmt.Sprintf("voice %d calls", *calls), Workers: *calls, Ops: uint64(rep.Answered), Errors: uint64(rep.Failed),
		Duration: rep.Elapsed.Seconds(), P50Ms: float64(rep.P50) / 1e6, P99Ms: float64(rep.P99) / 1e6, MaxMs: float64(rep.Max) / 1e6,
		Extra: map[string]string{"rtp_packets": fmt.Sprint(rep.Packets), "cpu": cpu.String(), "max_concurrent": fmt.Sprint(rep.MaxConcurrent), "latencies": "pacing error of RTP packets"}, StartedAt: time.Now()}
	if werr := bench.WriteJSON(*out, res); werr != nil {
		return werr
	}
	return err
}

// runBenchGet drives a plain HTTP GET endpoint (a peer's send interface,
// such as Kannel's sendsms) with the same harness, so peers are measured
// with the same load generator. {n} in the URL becomes a running number.
func runBenchGet(args []string) error {
	fs := flag.NewFlagSet("bench get", flag.ContinueOnError)
	url := fs.String("url", "", "URL to GET; {n} is replaced by a running number (e.g. for the destination)")
	workers := fs.Int("workers", 64, "concurrent closed-loop workers")
	duration := fs.Duration("duration", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up")
	name := fs.String("name", "get", "scenario name in the report")
	out := fs.String("out", filepath.Join("bench-results", "get.json"), "JSON report path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("bench get: --url is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	op := bench.GetOp(*url, *workers)
	res, err := bench.Run(ctx, bench.Options{Name: *name, Workers: *workers, Warmup: *warmup, Duration: *duration, Progress: os.Stderr}, op)
	if err != nil {
		return err
	}
	bench.WriteTable(os.Stdout, res)
	return bench.WriteJSON(*out, res)
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
	mode := fs.String("mode", bench.ModeCreate, "create | create-check | e2e (create-check with the latency of each leg)")
	workers := fs.Int("workers", 64, "concurrent closed-loop workers (one connection each)")
	duration := fs.Duration("duration", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up before measuring")
	sync := fs.String("sync", "always", "store sync mode of the gateway this bench starts: always | batch | none")
	smscListen := fs.String("smsc-listen", "127.0.0.1:2775", "with --url and create-check: where the bench's SMSC simulator listens (point the gateway's SMSC there)")
	out := fs.String("out", "", "JSON report path (default bench-results/api-MODE.json)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured part (gateway included when in-process) to this file")
	rate := fs.Float64("rate", 0, "open loop: start this many operations a second (latency from the scheduled start); 0: closed loop")
	atFraction := fs.Float64("then-open-loop-at", 0, "after the closed-loop run, run open loop at this fraction of the rate it reached (0.5: the p99 at half the maximum rate)")
	memProfile := fs.String("memprofile", "", "write an allocation profile (all allocations since start) to this file at the end, and one of those before the measured part to FILE.start")
	traceFile := fs.String("trace", "", "write an execution trace of one second of the measured part to this file (go tool trace)")
	ceiling := fs.Bool("ceiling", true, "first run the same load against a trivial fasthttp handler, and report the API figure as a share of it")
	channel := fs.String("channel", "sms", "sms | whatsapp | rcs: the verifications' channel (whatsapp through the WhatsApp Cloud API simulator, rcs through the RBM API simulator)")
	waListen := fs.String("wa-listen", "127.0.0.1:8090", "with --url and --channel whatsapp: where the bench's WhatsApp simulator listens (point the gateway's account there; token sandbox, app secret sandbox-app-secret)")
	velocity := fs.Bool("velocity", false, "count the fraud velocity buckets on every create (at rates the bench never reaches, so none refuses): what the counting costs; off, the bench tenant's sequential numbers would be one range")
	rcsListen := fs.String("rcs-listen", "127.0.0.1:8091", "with --url and --channel rcs: where the bench's RBM simulator listens")
	rcsKey := fs.String("rcs-key", "bench-results/rcs-key.json", "with --url and --channel rcs: where the bench writes the RBM simulator's service account key (point the gateway's agent there: key_file, agent_id otpgate-sandbox@rbm.goog, client_token sandbox-client-token)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *channel != "sms" && *channel != "whatsapp" && *channel != "rcs" {
		return fmt.Errorf("bench api: --channel %q is not sms, whatsapp or rcs", *channel)
	}
	if *out == "" {
		name := "api-" + *mode
		if *channel != "sms" {
			name += "-" + *channel
		}
		*out = filepath.Join("bench-results", name+".json")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	inbox := bench.NewCodeInbox()
	legs := bench.NewLegs()
	extra := map[string]string{}
	// atSMSC counts submit_sm at the bench's simulator: the create figure
	// counts only while the sends keep up with it.
	var atSMSC atomic.Int64
	var atSMSCStart int64
	target, apiKey := *url, *key
	// the WhatsApp simulator, for --channel whatsapp: codes off its
	// messages, the delivered legs off its callbacks
	var wa *wasim.Server
	if *channel == "whatsapp" {
		var err error
		wa, err = wasim.New(wasim.Config{Rate: -1, PairBurst: -1, DeliverAfter: time.Millisecond, Logger: slog.New(slog.DiscardHandler),
			OnMessage: func(m wasim.Message, code string) { atSMSC.Add(1); inbox.Deliver(m.To, code) },
			OnStatusTaken: func(m wasim.Message, status string, sent, taken time.Time) {
				if status == "delivered" {
					legs.DeliveredStored(m.To, m.ReceivedAt, sent, taken)
				}
			}})
		if err != nil {
			return err
		}
		listen := "127.0.0.1:0"
		if target != "" {
			listen = *waListen
		}
		waAddr, err := wa.Start(listen)
		if err != nil {
			return err
		}
		defer wa.Close()
		extra["whatsapp"] = "WhatsApp Cloud API simulator on " + waAddr
	}
	// the RBM simulator, for --channel rcs: codes off its messages' text,
	// the delivered legs off its events
	var rbm *rcssim.Server
	if *channel == "rcs" {
		var err error
		rbm, err = rcssim.New(rcssim.Config{DeliverAfter: time.Millisecond, Logger: slog.New(slog.DiscardHandler),
			OnMessage: func(m rcssim.Message) { atSMSC.Add(1); inbox.Deliver(m.To, m.Text) },
			OnStatusTaken: func(m rcssim.Message, eventType string, sent, taken time.Time) {
				if eventType == "DELIVERED" {
					legs.DeliveredStored(m.To, m.ReceivedAt, sent, taken)
				}
			}})
		if err != nil {
			return err
		}
		listen := "127.0.0.1:0"
		if target != "" {
			listen = *rcsListen
		}
		addr, err := rbm.Start(listen)
		if err != nil {
			return err
		}
		defer rbm.Close()
		extra["rcs"] = "RBM API simulator on " + addr
		if target != "" {
			if err := writeRCSKey(*rcsKey, rbm); err != nil {
				return err
			}
			rbm.SetCallbackURL(strings.TrimSuffix(target, "/") + "/webhooks/rcs")
			extra["gateway"] = *url
		}
	}
	if target == "" {
		// Receipts 1 ms after the submit_sm, so the receipt legs show the
		// gateway's time rather than the simulator's delay.
		sim, err := smsc.New(smsc.Config{SystemID: "bench", Password: "bench", ReceiptDelay: time.Millisecond,
			OnMessage:      func(m smsc.Message) { atSMSC.Add(1); inbox.Deliver(m.To, m.Text) },
			OnReceiptAcked: func(m smsc.Message, sent, acked time.Time) { legs.ReceiptStored(m.To, sent, acked) }})
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
		rcsYAML, err := rcsAgentYAML(rbm, filepath.Join(dir, "rcs-key.json"))
		if err != nil {
			return err
		}
		apiKey = newAPIKey()
		cfg, err := config.Parse(fmt.Appendf(nil, `server_key: %s
data_dir: %s
http: {listen: "127.0.0.1:0"}
store: {sync: %s}
log: {level: error}
smscs: [{name: sim, address: %q, system_id: bench, password: bench, window: 100}]
tenants: [{id: bench, api_keys: [%q], pending_policy: reject, fraud: {velocity: %s}}]
%s%s`, newServerKey(), dir, *sync, sim.Addr(), api.HashKey(apiKey), benchVelocity(*velocity), waAccountYAML(wa), rcsYAML), config.Options{})
		if err != nil {
			return err
		}
		g, err := startGateway(cfg, source{}, newLogger(cfg.Log, os.Stderr))
		if err != nil {
			return err
		}
		defer g.Shutdown(context.Background())
		target = "http://" + g.Addr()
		if wa != nil {
			wa.SetCallbackURL(target + "/webhooks/whatsapp")
		}
		if rbm != nil {
			rbm.SetCallbackURL(target + "/webhooks/rcs")
		}
		extra["gateway"] = "in-process, store sync " + *sync
	} else if wa != nil {
		wa.SetCallbackURL(strings.TrimSuffix(target, "/") + "/webhooks/whatsapp")
		extra["gateway"] = *url
	} else if rbm == nil && *mode != bench.ModeCreate {
		sim, err := smsc.New(smsc.Config{ReceiptDelay: time.Millisecond,
			OnMessage:      func(m smsc.Message) { atSMSC.Add(1); inbox.Deliver(m.To, m.Text) },
			OnReceiptAcked: func(m smsc.Message, sent, acked time.Time) { legs.ReceiptStored(m.To, sent, acked) }})
		if err != nil {
			return err
		}
		if err := sim.Listen(*smscListen); err != nil {
			return err
		}
		defer sim.Close()
		extra["gateway"] = *url + ", SMSC simulator on " + sim.Addr()
	}
	op, err := bench.APIOp(bench.APIConfig{URL: target, Key: apiKey, Mode: *mode, Codes: inbox, Conns: max(*workers, 256), Legs: legs, Channel: *channel})
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
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		go func() {
			select {
			case <-time.After(*warmup + *duration/2):
			case <-ctx.Done():
				return
			}
			if err := trace.Start(f); err != nil {
				fmt.Fprintln(os.Stderr, "trace:", err)
				return
			}
			time.Sleep(time.Second)
			trace.Stop()
		}()
	}
	var results []bench.Result
	if *ceiling {
		c, err := bench.StartCeiling()
		if err != nil {
			return err
		}
		cop, err := bench.APIOp(bench.APIConfig{URL: c.URL(), Key: "x", Mode: bench.ModeCreate, Conns: *workers})
		if err != nil {
			return err
		}
		cres, err := bench.Run(ctx, bench.Options{Name: "ceiling (trivial handler)", Workers: *workers, Warmup: *warmup, Duration: *duration, Progress: os.Stderr, Rate: *rate}, cop)
		c.Close()
		if err != nil {
			return err
		}
		results = append(results, cres)
	}
	onMeasure := func() {
		legs.Reset()
		atSMSCStart = atSMSC.Load()
		if *memProfile != "" { // what was allocated before the measured part, to subtract (bench profile)
			if err := writeAllocs(*memProfile + ".start"); err != nil {
				fmt.Fprintln(os.Stderr, "memprofile:", err)
			}
		}
	}
	name := "api " + *mode
	if *channel != "sms" {
		name += " (" + *channel + ")"
	}
	res, err := bench.Run(ctx, bench.Options{Name: name, Workers: *workers, Warmup: *warmup, Duration: *duration, Progress: os.Stderr, Rate: *rate, OnMeasure: onMeasure}, op)
	if err != nil {
		return err
	}
	for k, v := range res.Extra {
		extra[k] = v
	}
	if got := atSMSC.Load() - atSMSCStart; got > 0 && res.Duration > 0 {
		smscRate := float64(got) / res.Duration
		if wa != nil {
			extra["at_whatsapp"] = fmt.Sprintf("%.0f messages/s reached the WhatsApp simulator while measuring (%.0f%% of the operation rate)", smscRate, 100*smscRate/res.Rate)
		} else if rbm != nil {
			extra["at_rcs"] = fmt.Sprintf("%.0f messages/s reached the RBM simulator while measuring (%.0f%% of the operation rate)", smscRate, 100*smscRate/res.Rate)
		} else {
			extra["at_smsc"] = fmt.Sprintf("%.0f submit_sm/s reached the SMSC simulator while measuring (%.0f%% of the operation rate)", smscRate, 100*smscRate/res.Rate)
		}
	}
	if *mode == bench.ModeE2E {
		for k, v := range legs.Summary() {
			extra[k] = v
		}
	}
	res.Extra = extra
	if len(results) > 0 && results[0].Rate > 0 {
		extra["share_of_ceiling"] = fmt.Sprintf("%.1f%% of the trivial handler's %.0f/s in the same run", 100*res.Rate/results[0].Rate, results[0].Rate)
	}
	results = append(results, res)
	if *atFraction > 0 && *rate == 0 && res.Rate > 0 {
		r := *atFraction * res.Rate
		// enough connections that the generator never waits for one
		half, err := bench.Run(ctx, bench.Options{Name: fmt.Sprintf("api %s at %.0f%% of max", *mode, 100**atFraction), Workers: max(*workers, 256), Warmup: *warmup, Duration: *duration, Progress: os.Stderr, Rate: r}, op)
		if err != nil {
			return err
		}
		results = append(results, half)
	}
	if *memProfile != "" {
		if err := writeAllocs(*memProfile); err != nil {
			return err
		}
	}
	bench.WriteTable(os.Stdout, results...)
	if err := bench.WriteJSON(*out, results...); err != nil {
		return err
	}
	svg := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".svg"
	if err := bench.WriteSVG(svg, results...); err != nil {
		return err
	}
	fmt.Printf("report: %s, chart: %s\n", *out, svg)
	if res.Ops == 0 {
		return fmt.Errorf("bench api: no operation succeeded (first error: %s)", res.FirstErr)
	}
	return nil
}

// runBenchCeiling drives the trivial fasthttp handler alone: what this
// machine's HTTP stack and load generator can do at all.
func runBenchCeiling(args []string) error {
	fs := flag.NewFlagSet("bench ceiling", flag.ContinueOnError)
	workers := fs.Int("workers", 64, "concurrent closed-loop workers (one connection each)")
	duration := fs.Duration("duration", 10*time.Second, "measured duration")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up")
	rate := fs.Float64("rate", 0, "open loop: this many requests a second; 0: closed loop")
	out := fs.String("out", filepath.Join("bench-results", "ceiling.json"), "JSON report path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := bench.StartCeiling()
	if err != nil {
		return err
	}
	defer c.Close()
	op, err := bench.APIOp(bench.APIConfig{URL: c.URL(), Key: "x", Mode: bench.ModeCreate, Conns: max(*workers, 256)})
	if err != nil {
		return err
	}
	res, err := bench.Run(ctx, bench.Options{Name: "ceiling (trivial handler)", Workers: *workers, Warmup: *warmup, Duration: *duration, Progress: os.Stderr, Rate: *rate}, op)
	if err != nil {
		return err
	}
	bench.WriteTable(os.Stdout, res)
	if err := bench.WriteJSON(*out, res); err != nil {
		return err
	}
	return bench.WriteSVG(strings.TrimSuffix(*out, filepath.Ext(*out))+".svg", res)
}

// writeAllocs writes the allocation profile so far to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchVelocity is the bench tenant's velocity limits: off, or counted at
// a billion a second.
func benchVelocity(on bool) string {
	if !on {
		return "{country: {off: true}, prefix: {off: true}}"
	}
	return "{country: {count: 1000000000, per: 1s}, prefix: {count: 1000000000, per: 1s}, client: {count: 1000000000, per: 1s}}"
}

// rcsAgentYAML writes the key of the bench's RBM simulator to keyFile and
// returns the config of an agent on it ("" without one).
func rcsAgentYAML(rbm *rcssim.Server, keyFile string) (string, error) {
	if rbm == nil {
		return "", nil
	}
	if err := writeRCSKey(keyFile, rbm); err != nil {
		return "", err
	}
	return fmt.Sprintf("rcs:\n  - {name: rbm, base_url: %q, agent_id: %q, key_file: %q, client_token: %q}\n",
		rbm.BaseURL(), rbm.AgentID(), keyFile, rbm.ClientToken()), nil
}

func writeRCSKey(path string, rbm *rcssim.Server) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, rcs.MarshalServiceAccountKey(rbm.Key()), 0o600)
}

// waAccountYAML is the config of a WhatsApp account on the bench's
// simulator ("" without one): its rate is the simulator's (no limit),
// so the figure is the gateway's.
func waAccountYAML(wa *wasim.Server) string {
	if wa == nil {
		return ""
	}
	return fmt.Sprintf(`whatsapp:
  - {name: wa, base_url: %q, phone_number_id: "100000000000001", token: sandbox, app_secret: sandbox-app-secret,
     verify_token: bench, template: otp_code, languages: [en_US], message_ttl: 60s, rate: 10000}
`, "http://"+wa.Addr())
}
