package smsc

import (
	"flag"
	"github.com/otpgate/otpgate/internal/listflag"
	"time"
)

// RegisterFlags defines a flag on fs for every knob of c (all but the hooks
// and Log), writing into c when fs is parsed. A flag's default is c's current
// value, or the package default where c has none. It defines no flag for the
// listening address, so the caller can add its own (-listen).
//
// Flags: -system-id, -password, -receipt-delay, -undelivered-share,
// -undelivered-part, -submit-delay, -submit-jitter, -window, -tps,
// -drop-every, -drop-after, -no-response, -rule (repeatable), -id-format,
// -receipt-id-format, -inbox, -receipt-queue.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	c.SystemID = def(c.SystemID, DefaultSystemID)
	c.Password = def(c.Password, DefaultPassword)
	c.IDFormat = def(c.IDFormat, DefaultIDFormat)
	c.ReceiptIDFormat = def(c.ReceiptIDFormat, DefaultReceiptIDFormat)
	if c.ReceiptDelay == 0 {
		c.ReceiptDelay = DefaultReceiptDelay
	}
	if c.InboxSize == 0 {
		c.InboxSize = DefaultInboxSize
	}
	if c.ReceiptQueue == 0 {
		c.ReceiptQueue = DefaultReceiptQueue
	}

	fs.StringVar(&c.SystemID, "system-id", c.SystemID, "system_id a bind must give (at most 15 characters)")
	fs.StringVar(&c.Password, "password", c.Password, "password a bind must give")
	fs.Var((*receiptDelayFlag)(&c.ReceiptDelay), "receipt-delay",
		"delay between accepting a submit_sm and sending its delivery receipt; 0 sends it at once, negative sends none")
	fs.Float64Var(&c.UndeliveredShare, "undelivered-share", c.UndeliveredShare,
		"share (0..1) of receipts that say UNDELIV instead of DELIVRD, for destinations no -rule gives a receipt")
	fs.IntVar(&c.UndeliveredPart, "undelivered-part", c.UndeliveredPart,
		"when > 0, that part (1-based) of every multipart message gets an UNDELIV receipt")
	fs.DurationVar(&c.SubmitDelay, "submit-delay", c.SubmitDelay, "latency of every submit_sm_resp")
	fs.DurationVar(&c.SubmitJitter, "submit-jitter", c.SubmitJitter,
		"random extra latency in [0, jitter) per submit_sm_resp, so responses leave out of order")
	fs.IntVar(&c.Window, "window", c.Window,
		"most submit_sm in progress per session; at the limit the session stops reading until a response frees a slot (0: no limit)")
	fs.Float64Var(&c.TPS, "tps", c.TPS,
		"submit_sm accepted per second over all sessions; past it they are answered ESME_RTHROTTLED 0x58 (0: no limit)")
	fs.IntVar(&c.DropEvery, "drop-every", c.DropEvery,
		"close the connection on every Nth submit_sm received, without answering or storing it (0: never)")
	fs.DurationVar(&c.DropAfter, "drop-after", c.DropAfter, "close every session this long after its bind (0: never)")
	fs.BoolVar(&c.NoResponse, "no-response", c.NoResponse, "never answer submit_sm (to test response timeouts)")
	fs.Var(&listflag.Value[Rule]{List: &c.Rules, Parse: ParseRule}, "rule",
		"outcome by destination prefix, PREFIX=ACTION[,ACTION...] with actions status:CODE (reject: 0x0B, 11 or ESME_RINVDSTADR), "+
			"receipt:DELIVRD|UNDELIV|REJECTD|EXPIRED, noresponse; repeatable, the longest prefix wins; e.g. -rule '+3900=status:0x0B' -rule '+44=receipt:UNDELIV'")
	fs.StringVar(&c.IDFormat, "id-format", c.IDFormat, "message ids in submit_sm_resp: hex or decimal")
	fs.StringVar(&c.ReceiptIDFormat, "receipt-id-format", c.ReceiptIDFormat,
		"message ids in receipts: same (as submit_sm_resp), hex or decimal (the same number in that base)")
	fs.IntVar(&c.InboxSize, "inbox", c.InboxSize, "messages kept in the inbox (and raw multipart parts, as many again)")
	fs.IntVar(&c.ReceiptQueue, "receipt-queue", c.ReceiptQueue, "receipts that may wait to be written on one session before more are dropped")
}

// receiptDelayFlag maps the flag's 0 ("at once") to the shortest delay,
// since Config.ReceiptDelay's zero means the default.
type receiptDelayFlag time.Duration

func (f *receiptDelayFlag) String() string {
	if f == nil {
		return DefaultReceiptDelay.String()
	}
	return time.Duration(*f).String()
}

func (f *receiptDelayFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d == 0 {
		d = time.Nanosecond
	}
	*f = receiptDelayFlag(d)
	return nil
}
