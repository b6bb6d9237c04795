package main

import (
	"flag"
	"io"
	"log/slog"

	wasim "github.com/otpgate/otpgate/whatsapp/sim"
)

// runWASim runs the WhatsApp Cloud API simulator alone (see `otpgate
// wa-sim --help`): point an account's base_url at it, and its -callback
// at the gateway's /webhooks/whatsapp.
func runWASim(args []string) error {
	var cfg wasim.Config
	var listen *string
	return runSimulator("wa-sim", args, func(fs *flag.FlagSet) {
		listen = fs.String("listen", "127.0.0.1:8090", "address to listen on")
		cfg.RegisterFlags(fs)
	}, func(log *slog.Logger) (string, io.Closer, error) {
		cfg.Logger = log
		srv, err := wasim.New(cfg)
		if err != nil {
			return "", nil, err
		}
		addr, err := srv.Start(*listen)
		if err != nil {
			return "", nil, err
		}
		return addr, srv, nil
	})
}
