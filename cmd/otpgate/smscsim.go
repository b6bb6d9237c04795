package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/otpgate/otpgate/smpp/smsc"
)

// runSMSCSim runs the SMSC simulator alone; every knob of smsc.Config is a
// flag (see `otpgate smsc-sim --help`).
func runSMSCSim(args []string) error {
	fs := flag.NewFlagSet("smsc-sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:2775", "address to listen on")
	verbose := fs.Bool("v", false, "log every session event")
	var cfg smsc.Config
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("smsc-sim: unexpected argument %q", fs.Arg(0))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Log = log
	srv, err := smsc.New(cfg)
	if err != nil {
		return fmt.Errorf("smsc-sim: %w", err)
	}
	if err := srv.Listen(*listen); err != nil {
		return err
	}
	log.Info("smsc simulator listening", "addr", srv.Addr(), "system_id", cfg.SystemID)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("smsc simulator stopping", "counters", fmt.Sprintf("%+v", srv.Counters()))
	return srv.Close()
}
