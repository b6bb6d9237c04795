// Command otpgate is the one Otpgate binary: the gateway (serve), its
// simulators (smsc-sim, sip-sim, wa-sim, rcs-sim), key tools (key), load benchmarks (bench) and
// version. Run `otpgate help` for the list.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
)

var version = "dev"

const usage = `otpgate — self-hosted phone verification (OTP) gateway

Usage:
  otpgate serve [--config FILE] [--http ADDR] [--data DIR]   run the gateway (sandbox mode without --config)
  otpgate smsc-sim --listen ADDR [flags]                     run the SMSC simulator alone
  otpgate sip-sim --listen ADDR [flags]                      run the SIP simulator alone
  otpgate wa-sim --listen ADDR [flags]                       run the WhatsApp Cloud API simulator alone
  otpgate rcs-sim --listen ADDR --key FILE [flags]           run the RCS Business Messaging API simulator alone
  otpgate route NUMBER [--sender S] [--tenant T] [--config F] explain the routing decision for a number
  otpgate key new                                            print a new tenant API key and its hash for the config
  otpgate key server                                         print a new server key (base64, 32 bytes)
  otpgate key hash SECRET                                    print the hash of a vendor secret (Vonage api_secret, Twilio auth token) for the config
  otpgate bench api|e2e|ceiling|smpp|voice|get|memory [flags] load-test the API, the whole path, an SMPP link, voice calls, a peer; memory with a large store
  otpgate version                                            print the version

Run 'otpgate COMMAND --help' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		spareProc()
		setGCPercent()
		err = runServe(args)
	case "smsc-sim":
		err = runSMSCSim(args)
	case "sip-sim":
		err = runSIPSim(args)
	case "wa-sim":
		err = runWASim(args)
	case "rcs-sim":
		err = runRCSSim(args)
	case "key":
		err = runKey(args, os.Stdout)
	case "route":
		err = runRoute(args, os.Stdout)
	case "bench":
		spareProc() // the gateway a bench starts in-process runs as serve would
		setGCPercent()
		err = runBench(args)
	case "version", "--version":
		fmt.Println("otpgate", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "otpgate: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return // the command printed its flags, as asked
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "otpgate:", err)
		os.Exit(1)
	}
}

// isHelp reports whether arg asks for a command's usage.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}
