package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/otpgate/otpgate/api"
)

// newAPIKey returns a tenant API key: "otp_" and 32 random bytes in base64url.
func newAPIKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "otp_" + base64.RawURLEncoding.EncodeToString(b)
}

func newServerKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

const keyUsage = "usage: otpgate key new | otpgate key server | otpgate key hash SECRET"

func runKey(args []string, out io.Writer) error {
	if len(args) == 2 && args[0] == "hash" {
		// a vendor secret a tenant already has (a Vonage api_secret, a
		// Twilio auth token): the config keeps only its hash
		fmt.Fprintf(out, "hash (put it in the config; the secret is not stored): %s\n", api.HashKey(args[1]))
		return nil
	}
	if len(args) != 1 {
		return errors.New(keyUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(out, keyUsage)
		return flag.ErrHelp
	case "new":
		k := newAPIKey()
		fmt.Fprintf(out, "api key (give it to the tenant; it is not stored): %s\n", k)
		fmt.Fprintf(out, "hash (put it in the tenant's api_keys):          %s\n", api.HashKey(k))
	case "server":
		fmt.Fprintf(out, "server_key: %s\n", newServerKey())
	default:
		return fmt.Errorf("key: unknown subcommand %q (new, server)", args[0])
	}
	return nil
}
