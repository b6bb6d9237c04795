package main

import (
	"flag"
	"io"
	"log/slog"

	"github.com/otpgate/otpgate/smpp/smsc"
)

// runSMSCSim runs the SMSC simulator alone; every knob of smsc.Config is a
// flag (see `otpgate smsc-sim --help`).
func runSMSCSim(args []string) error {
	var cfg smsc.Config
	var listen *string
	return runSimulator("smsc-sim", args, func(fs *flag.FlagSet) {
		listen = fs.String("listen", "127.0.0.1:2775", "address to listen on")
		cfg.RegisterFlags(fs)
	}, func(log *slog.Logger) (string, io.Closer, error) {
		cfg.Log = log
		srv, err := smsc.New(cfg)
		if err != nil {
			return "", nil, err
		}
		if err := srv.Listen(*listen); err != nil {
			return "", nil, err
		}
		return srv.Addr(), srv, nil
	})
}
