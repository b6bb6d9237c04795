package main

import (
	"flag"
	"io"
	"log/slog"

	"github.com/otpgate/otpgate/sip/uas"
)

// runSIPSim runs the SIP simulator alone: it answers (or answers busy, no
// answer or 503 by number prefix), can challenge with digest auth, and
// records the audio of each call.
func runSIPSim(args []string) error {
	var cfg uas.Config
	var listen, transport *string
	return runSimulator("sip-sim", args, func(fs *flag.FlagSet) {
		listen = fs.String("listen", "127.0.0.1:5060", "address to listen on")
		transport = fs.String("transport", "udp", "udp | tcp")
		cfg.RegisterFlags(fs)
	}, func(log *slog.Logger) (string, io.Closer, error) {
		cfg.Log = log
		srv, err := uas.New(cfg)
		if err != nil {
			return "", nil, err
		}
		if err := srv.Listen(*transport, *listen); err != nil {
			return "", nil, err
		}
		return srv.Addr(), srv, nil
	})
}
