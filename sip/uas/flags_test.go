package uas

import (
	"flag"
	"testing"
	"time"
)

func TestRegisterFlags(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("sip-sim", flag.ContinueOnError)
	c.RegisterFlags(fs)
	err := fs.Parse([]string{
		"-password", "pw", "-username", "alice", "-realm", "r",
		"-rule", "+1555=busy", "-rule", "44=no-answer", "-rule", "+49=fail",
		"-answer-delay", "1s", "-max-record", "10s", "-codecs", "pcma, PCMU",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Password != "pw" || c.Username != "alice" || c.Realm != "r" || c.AnswerDelay != time.Second || c.MaxRecord != 10*time.Second {
		t.Errorf("config %+v", c)
	}
	if len(c.Rules) != 3 || c.Rules[1] != (Rule{Prefix: "44", Action: ActionNoAnswer}) {
		t.Errorf("rules %+v", c.Rules)
	}
	if len(c.Codecs) != 2 || c.Codecs[0] != "PCMA" {
		t.Errorf("codecs %v", c.Codecs)
	}
	if c.History != DefaultHistory || c.MaxRing != DefaultMaxRing {
		t.Errorf("defaults not shown: %+v", c)
	}
	for _, bad := range [][]string{{"-rule", "+1=hangup"}, {"-rule", "+1"}, {"-codecs", "G729"}} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(new(discard))
		new(Config).RegisterFlags(fs)
		if fs.Parse(bad) == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestActionLongestPrefix(t *testing.T) {
	s, err := New(Config{Rules: []Rule{
		{Prefix: "+1", Action: ActionBusy},
		{Prefix: "1555", Action: ActionNoAnswer},
		{Prefix: "+15551", Action: ActionFail},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for number, want := range map[string]string{
		"+12025550100": ActionBusy,
		"15550000000":  ActionNoAnswer,
		"+15551000000": ActionFail,
		"+44700000000": ActionAnswer,
	} {
		if got := s.action(number); got != want {
			t.Errorf("%s: %s, want %s", number, got, want)
		}
	}
	if _, err := New(Config{Rules: []Rule{{Prefix: "1", Action: "ring"}}}); err == nil {
		t.Error("bad action accepted")
	}
}

// Sequence numbers that wrap around 65535 keep their order; duplicates are
// dropped and missing ones counted.
func TestSnapshotOrdersAcrossWrap(t *testing.T) {
	c := &call{}
	add := func(seq uint16, b byte) {
		var ext int64
		if !c.haveSeq {
			ext, c.haveSeq = int64(seq), true
			c.maxExt = ext
		} else {
			ext = c.maxExt + int64(int16(seq-uint16(c.maxExt)))
			c.maxExt = max(c.maxExt, ext)
		}
		c.pkts = append(c.pkts, packet{seq: ext, payload: []byte{b}})
	}
	add(65534, 1)
	add(0, 3) // 65535 comes late
	add(65535, 2)
	add(0, 3) // duplicate
	add(2, 5) // 1 is lost
	r := c.snapshot()
	if string(r.Audio) != "\x01\x02\x03\x05" || r.Packets != 4 || r.SeqGaps != 1 {
		t.Errorf("audio %v, %d packets, %d gaps", r.Audio, r.Packets, r.SeqGaps)
	}
}
