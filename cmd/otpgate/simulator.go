package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// runSimulator is the shared shell of `smsc-sim` and `sip-sim`: it parses
// the flags (register adds the simulator's own), builds a JSON logger
// (-v for debug), starts the simulator and serves until SIGINT or SIGTERM.
// start returns the listening address and the simulator to close.
func runSimulator(name string, args []string, register func(fs *flag.FlagSet), start func(log *slog.Logger) (addr string, c io.Closer, err error)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	verbose := fs.Bool("v", false, "log every session or call event")
	register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	_, c, err := start(log) // the simulator logs where it listens
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return c.Close()
}
