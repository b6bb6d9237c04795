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
	"time"
)

func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serveConfig reads the flags and the config file (or the sandbox defaults).
func serveConfig(args []string) (*Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "YAML config file; without it the sandbox runs")
	httpAddr := fs.String("http", "", "HTTP listen address (overrides http.listen)")
	dataDir := fs.String("data", "", "data directory (overrides data_dir)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	var cfg *Config
	var err error
	if *path == "" {
		cfg, err = ParseConfig([]byte("sandbox: true\n"))
	} else {
		cfg, err = LoadConfig(*path)
	}
	if err != nil {
		return nil, err
	}
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	return cfg, nil
}

func runServe(args []string) error {
	cfg, err := serveConfig(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	g, err := startGateway(cfg, log)
	if err != nil {
		return err
	}
	log.Info("otpgate serving", "version", version, "http", g.Addr(), "sandbox", cfg.Sandbox, "data_dir", cfg.DataDir, "store_sync", cfg.Store.Sync)
	if cfg.Sandbox {
		fmt.Fprintf(os.Stderr, "\nSandbox mode. HTTP API on http://%s, SMSC simulator on %s.\nDemo tenant API key: %s\nDemo webhook secret: %s\nAdmin key:           %s\n\n",
			g.Addr(), g.sim.Addr(), g.demoKey, g.sandbox.WebhookSecret, g.sandbox.AdminKey)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-g.serveErr:
		log.Error("http server stopped", "err", err)
	}
	stop()
	log.Info("draining")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
