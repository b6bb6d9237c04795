package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/otpgate/otpgate/internal/config"
	"github.com/otpgate/otpgate/internal/phone"
	"github.com/otpgate/otpgate/router"
)

// runRoute explains the routing decision for one number: the route that
// takes it, the rule that made it, the connector it goes to and the ones it
// would fall back to. It reads the config only; it judges no live health.
func runRoute(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("route", flag.ContinueOnError)
	sender := fs.String("sender", "", "sender id of the message (default: sms.default_sender_id)")
	tenant := fs.String("tenant", "", "tenant id")
	country := fs.String("country", "", "ISO country, for a national number")
	channel := fs.String("channel", "sms", "sms | voice")
	path := fs.String("config", "", "config file (default: the sandbox's)")
	// flags may come after the number: parse, take the number, parse the rest
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return errors.New("usage: otpgate route NUMBER [--sender S] [--tenant T] [--country C] [--channel sms] [--config FILE]")
	}
	number := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("route: unexpected argument %q", fs.Arg(0))
	}
	// The routing table needs no secrets: a production file is read
	// without the environment its passwords and keys come from.
	var cfg *config.Config
	var err error
	if *path != "" {
		cfg, err = config.Load(*path, config.Options{RoutingOnly: true})
	} else {
		cfg, err = config.Sandbox()
	}
	if err != nil {
		return err
	}
	num, err := phone.NewValidator(1).Parse(number, *country)
	if err != nil {
		return err
	}
	if *sender == "" {
		*sender = cfg.SMS.DefaultSenderID
		if *sender == "" {
			*sender = "Otpgate"
		}
	}
	rt, err := router.New(cfg.RouteTable(), nil)
	if err != nil {
		return err
	}
	req := router.Request{Number: num.E164, Country: num.Country, Sender: *sender, Tenant: *tenant, Channel: *channel}
	fmt.Fprintf(out, "message:   %s (%s), sender %q, tenant %q, channel %s\n", num.E164, num.Country, *sender, *tenant, *channel)
	d, ok := rt.Route(req, nil)
	if !ok {
		fmt.Fprintln(out, "decision:  no route takes it (the API answers 422 no_route)")
		return nil
	}
	targets := d.List()
	fmt.Fprintf(out, "route:     %s\n", d.Rule)
	fmt.Fprintf(out, "send via:  %s\n", describeTarget(targets[0]))
	if len(targets) > 1 {
		var fb []string
		for _, t := range targets[1:] {
			fb = append(fb, describeTarget(t))
		}
		fmt.Fprintf(out, "fall back: %s\n", strings.Join(fb, ", then "))
	} else {
		fmt.Fprintln(out, "fall back: none")
	}
	ton := "inferred from the sender"
	if d.SourceTON >= 0 || d.SourceNPI >= 0 {
		ton = fmt.Sprintf("TON %d NPI %d", d.SourceTON, d.SourceNPI)
	}
	fmt.Fprintf(out, "sender:    %q (%s)\n", d.Sender, ton)
	return nil
}

func describeTarget(t router.Target) string {
	s := t.Connector
	if t.Cost != 0 {
		s += fmt.Sprintf(" (cost %.4f)", t.Cost)
	}
	if t.Weight > 1 {
		s += fmt.Sprintf(" (weight %d)", t.Weight)
	}
	return s
}
