package sim

import (
	"flag"

	"github.com/otpgate/otpgate/internal/listflag"
)

// RegisterFlags defines a flag on fs for every knob of c a command line
// sets (`otpgate rcs-sim`), writing into c when fs is parsed. It defines no
// flag for the listening address or the key file.
//
// Flags: -agent-id, -client-token, -client-email, -callback, -rule
// (repeatable), -deliver-after, -read-after, -retry-for, -inbox, -max-ttl.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.AgentID, "agent-id", "", "the agent it serves (default otpgate-sandbox@rbm.goog)")
	fs.StringVar(&c.ClientToken, "client-token", "", "the webhook's client token, which signs the events (X-Goog-Signature; default sandbox-client-token)")
	fs.StringVar(&c.ClientEmail, "client-email", "", "the service account whose key it takes (default otpgate-sandbox@otpgate-sim.iam.gserviceaccount.com)")
	fs.StringVar(&c.CallbackURL, "callback", "", "URL that receives the signed events (the gateway's /webhooks/rcs); none: events are only kept")
	fs.Var(&listflag.Value[Rule]{List: &c.Rules, Parse: ParseRule}, "rule",
		"outcome by destination prefix, PREFIX=ACTION: deliver, read, no-rcs, offline:DURATION, unrevoked, silent, refuse:STATUS, no-answer-once; repeatable, the longest prefix wins")
	fs.DurationVar(&c.DeliverAfter, "deliver-after", 0, "from accepted to DELIVERED (default 20ms)")
	fs.DurationVar(&c.ReadAfter, "read-after", 0, "from DELIVERED to READ, for read rules (default 200ms)")
	fs.DurationVar(&c.RetryFor, "retry-for", 0, "how long an event that gets no 200 is retried (default 10m)")
	fs.IntVar(&c.InboxSize, "inbox", 0, "messages kept per number (default 50)")
	fs.DurationVar(&c.MaxTTL, "max-ttl", 0, "shorten every message's TTL to at most this (default: as sent)")
}
