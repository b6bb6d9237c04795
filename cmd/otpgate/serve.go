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
	cfg.source = configSource{path: *path, http: *httpAddr, data: *dataDir}
	cfg.applyFlags()
	return cfg, nil
}

// applyFlags puts the command line's overrides over the file's values.
func (c *Config) applyFlags() {
	if c.source.http != "" {
		c.HTTP.Listen = c.source.http
	}
	if c.source.data != "" {
		c.DataDir = c.source.data
	}
}

func runServe(args []string) error {
	cfg, err := serveConfig(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	setMemoryLimit(cfg.MemoryLimitMB, cfg.Store.CacheMB)
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
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-g.serveErr:
			log.Error("http server stopped", "err", err)
			break wait
		case <-hup:
			if g.cfgPath == "" {
				log.Warn("SIGHUP: no config file to reload (started without --config)")
				continue
			}
			if res, err := g.Reload(); err != nil {
				log.Error("SIGHUP: config not reloaded; the running one stays", "err", err)
			} else {
				log.Info("SIGHUP: config reloaded", "reloaded", res.Reloaded, "needs_restart", res.NeedsRestart)
			}
		}
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
