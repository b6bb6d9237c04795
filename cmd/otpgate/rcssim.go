package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/otpgate/otpgate/rcs"
	rcssim "github.com/otpgate/otpgate/rcs/sim"
)

// runRCSSim runs the RBM API simulator alone. Its service account key
// lives in --key: read from there when the file holds one, else made and
// written there, with the token_uri of this run's listening address, so a
// gateway's rcs agent names the same file as key_file.
func runRCSSim(args []string) error {
	var cfg rcssim.Config
	var listen, keyFile *string
	return runSimulator("rcs-sim", args, func(fs *flag.FlagSet) {
		listen = fs.String("listen", "127.0.0.1:8091", "address to listen on")
		keyFile = fs.String("key", "", "the service account's JSON key file: read when it exists, else made; rewritten with this run's token_uri (required)")
		cfg.RegisterFlags(fs)
	}, func(log *slog.Logger) (string, io.Closer, error) {
		if *keyFile == "" {
			return "", nil, errors.New("--key FILE is required: the service account key the gateway's rcs agent reads as key_file")
		}
		raw, err := os.ReadFile(*keyFile)
		switch {
		case err == nil:
			k, err := rcs.ParseServiceAccountKey(raw)
			if err != nil {
				return "", nil, fmt.Errorf("--key %s: %w", *keyFile, err)
			}
			cfg.Key, cfg.ClientEmail = k.PrivateKey, k.ClientEmail
		case !errors.Is(err, fs.ErrNotExist):
			return "", nil, fmt.Errorf("--key: %w", err)
		}
		cfg.Logger = log
		srv, err := rcssim.New(cfg)
		if err != nil {
			return "", nil, err
		}
		addr, err := srv.Start(*listen)
		if err != nil {
			return "", nil, err
		}
		if err := os.WriteFile(*keyFile, rcs.MarshalServiceAccountKey(srv.Key()), 0o600); err != nil {
			srv.Close()
			return "", nil, fmt.Errorf("--key: %w", err)
		}
		log.Info("rcs-sim: key written", "key_file", *keyFile, "agent_id", srv.AgentID(), "base_url", srv.BaseURL())
		return addr, srv, nil
	})
}
