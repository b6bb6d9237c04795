package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/otpgate/otpgate/internal/config"
)

func newLogger(cfg config.LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// source is where a running config came from: the file (a reload reads it
// again; "" for the built-in sandbox config) and the command line's
// overrides, applied over the file's values at start and after each reload.
type source struct {
	path, http, data string
}

// load reads the config the source names and applies the overrides.
func (src source) load() (*config.Config, error) {
	var cfg *config.Config
	var err error
	if src.path == "" {
		cfg, err = config.Sandbox()
	} else {
		cfg, err = config.Load(src.path, config.Options{})
	}
	if err != nil {
		return nil, err
	}
	if src.http != "" {
		cfg.HTTP.Listen = src.http
	}
	if src.data != "" {
		cfg.DataDir = src.data
	}
	return cfg, nil
}

// serveConfig reads the flags and the config file (or the sandbox defaults).
func serveConfig(args []string) (*config.Config, source, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "YAML config file; without it the sandbox runs")
	httpAddr := fs.String("http", "", "HTTP listen address (overrides http.listen)")
	dataDir := fs.String("data", "", "data directory (overrides data_dir)")
	if err := fs.Parse(args); err != nil {
		return nil, source{}, err
	}
	if fs.NArg() > 0 {
		return nil, source{}, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	src := source{path: *path, http: *httpAddr, data: *dataDir}
	cfg, err := src.load()
	return cfg, src, err
}

func runServe(args []string) error {
	cfg, src, err := serveConfig(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, os.Stderr)
	setMemoryLimit(cfg.MemoryLimitMB, cfg.Store.CacheMB)
	g, err := startGateway(cfg, src, log)
	if err != nil {
		return err
	}
	log.Info("otpgate serving", "version", version, "http", g.Addr(), "sandbox", cfg.Sandbox, "data_dir", cfg.DataDir, "store_sync", cfg.Store.Sync)
	if cfg.Sandbox {
		g.writeBanner(os.Stderr)
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

// writeBanner tells a sandbox user what is running and the keys to use.
func (g *gateway) writeBanner(w io.Writer) {
	base := "http://" + g.Addr()
	fmt.Fprintf(w, `
Sandbox mode.
  HTTP API         %s
  SMSC simulator   %s (SMPP; connector "sandbox")
  SIP simulator    %s (UDP; trunk "sandbox-voice")
  Data directory   %s (keys below are kept in %s)

Demo tenant API key:  %s
Demo webhook secret:  %s
Admin key:            %s
  good for POST %s/admin/reload and GET %s/admin/webhooks/dead

Vendor APIs (point the client at the base URL; nothing else changes):
  Vonage Verify   %s/compat/vonage   api_key %s, api_secret = the demo key
                  v2 JWT: application_id %s, private key %s
  Twilio Verify   %s/compat/twilio   Account SID %s, auth token = the demo key, Service SID %s
  SMS.CX          %s/compat/smscx    client id %s, secret = the demo key; or X-API-KEY = the demo key
  Message Central %s/compat/messagecentral   customerId %s, key = %s
  NexCode         %s/compat/nexcode  Authorization: Bearer = the demo key
  OpenAPI         %s/openapi.json, and /compat/<vendor>/openapi.json

Try: curl -s -X POST %s/v1/verifications -H "Authorization: Bearer %s" -d '{"number":"+14155552671"}'

`, base, g.sim.Addr(), g.uas.Addr(), g.cfg.DataDir, filepath.Join(g.cfg.DataDir, "sandbox.json"),
		g.demoKey, g.sandbox.WebhookSecret, g.sandbox.AdminKey, base, base,
		base, demoVonageAPIKey, g.sandbox.VonageApplicationID, filepath.Join(g.cfg.DataDir, demoVonageKeyFile),
		base, demoTwilioAccount, demoTwilioService,
		base, demoSMSCXApp, base, demoMCCustomer, base64.StdEncoding.EncodeToString([]byte(g.demoKey)), base, base,
		base, g.demoKey)
}
