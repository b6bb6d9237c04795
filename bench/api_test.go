package bench

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCodeInboxAndLegs(t *testing.T) {
	in := NewCodeInbox()
	in.Timeout = 200 * time.Millisecond
	in.Deliver("+1", "111111") // before anyone waits
	if c, at, err := in.CodeAt(context.Background(), "+1"); err != nil || c != "111111" || time.Since(at) > time.Second {
		t.Fatalf("early code: %q %v %v", c, at, err)
	}
	go func() { time.Sleep(20 * time.Millisecond); in.Deliver("+2", "222222") }()
	if c, err := in.Code(context.Background(), "+2"); err != nil || c != "222222" {
		t.Fatalf("waited code: %q %v", c, err)
	}
	if _, err := in.Code(context.Background(), "+3"); err == nil || !strings.Contains(err.Error(), "no SMS") {
		t.Fatalf("no code: %v", err)
	}
	l := NewLegs()
	l.record("1 api", 10*time.Millisecond)
	l.record("1 api", 30*time.Millisecond)
	if s := l.Summary()["leg 1 api"]; !strings.Contains(s, "(2)") {
		t.Fatalf("summary %q", s)
	}
	l.Reset()
	if len(l.Summary()) != 0 {
		t.Fatal("reset kept legs")
	}
}
