package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/otpgate/otpgate/sip/uas"
)

// runSIPSim runs the SIP simulator alone: it answers (or answers busy, no
// answer or 503 by number prefix), can challenge with digest auth, and
// records the audio of each call.
func runSIPSim(args []string) error {
	fs := flag.NewFlagSet("sip-sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5060", "address to listen on")
	network := fs.String("transport", "udp", "udp | tcp")
	verbose := fs.Bool("v", false, "log every call event")
	var cfg uas.Config
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sip-sim: unexpected argument %q", fs.Arg(0))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	srv, err := uas.New(cfg)
	if err != nil {
		return fmt.Errorf("sip-sim: %w", err)
	}
	if err := srv.Listen(*network, *listen); err != nil {
		return err
	}
	cfg.Log.Info("sip simulator listening", "addr", srv.Addr(), "transport", *network)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return srv.Close()
}
