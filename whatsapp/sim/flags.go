package sim

import (
	"flag"
	"fmt"
	"strings"

	"github.com/otpgate/otpgate/internal/listflag"
)

// RegisterFlags defines a flag on fs for every knob of c a command line
// sets (`otpgate wa-sim`), writing into c when fs is parsed. It defines no
// flag for the listening address.
//
// Flags: -token, -app-secret, -phone-number-id, -display-number,
// -template, -ttl, -callback, -rule (repeatable), -rate, -pair-burst,
// -pair-every, -deliver-after, -read-after, -retry-for, -inbox.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Token, "token", "sandbox", "access token a send must present (Authorization: Bearer)")
	fs.StringVar(&c.AppSecret, "app-secret", "sandbox-app-secret", "app secret that signs the status callbacks (X-Hub-Signature-256)")
	fs.Func("phone-number-id", "a business phone number id it serves (repeatable; default 100000000000001)", func(s string) error {
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return fmt.Errorf("%q is not digits", s)
		}
		c.PhoneNumberIDs = append(c.PhoneNumberIDs, s)
		return nil
	})
	fs.StringVar(&c.DisplayNumber, "display-number", "+15550000000", "the business number shown in callbacks")
	fs.Func("template", "an approved authentication template, NAME=LANG,LANG… (repeatable; default otp_code=en_US,en,it,fr,de,es,pt_BR)", func(s string) error {
		name, langs, ok := strings.Cut(s, "=")
		if !ok || name == "" || langs == "" {
			return fmt.Errorf("%q: want NAME=LANG,LANG…", s)
		}
		if c.Templates == nil {
			c.Templates = map[string][]string{}
		}
		c.Templates[name] = strings.Split(langs, ",")
		return nil
	})
	fs.DurationVar(&c.TemplateTTL, "ttl", 0, "the templates' message_send_ttl_seconds: a message not delivered within it is dropped (default 60s; 30s..15m)")
	fs.StringVar(&c.CallbackURL, "callback", "", "URL that receives the signed status callbacks (the gateway's /webhooks/whatsapp); none: statuses are only kept")
	fs.Var(&listflag.Value[Rule]{List: &c.Rules, Parse: ParseRule}, "rule",
		"outcome by destination prefix, PREFIX=ACTION: deliver, read, not-on-whatsapp, fail:CODE, refuse:CODE, offline:DURATION, silent, no-answer; repeatable, the longest prefix wins")
	fs.Float64Var(&c.Rate, "rate", 0, "messages a second per phone number before 130429 (default 80; -1 no limit)")
	fs.IntVar(&c.PairBurst, "pair-burst", 0, "messages in a burst to one user before 131056 (default 45; -1 no limit)")
	fs.DurationVar(&c.PairEvery, "pair-every", 0, "one more message to the same user per this long after a burst (default 6s)")
	fs.DurationVar(&c.DeliverAfter, "deliver-after", 0, "from accepted to delivered (default 20ms)")
	fs.DurationVar(&c.ReadAfter, "read-after", 0, "from delivered to read, for read rules (default 200ms)")
	fs.DurationVar(&c.RetryFor, "retry-for", 0, "how long a callback that gets no 200 is retried (default 10m)")
	fs.IntVar(&c.InboxSize, "inbox", 0, "messages kept per number (default 50)")
}
