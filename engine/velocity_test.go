package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestVelocity: each velocity limit on a fake clock: the creates it lets
// through at once (its burst), the refusal that follows (429
// velocity_limit naming the limit, with the time to the next token), and
// the create that passes once that time has gone by. Creates outside the
// limit's key (another country, range, address) are not held back.
func TestVelocity(t *testing.T) {
	off := Velocity{Rate: -1}
	for _, tt := range []struct {
		name    string
		limits  VelocityLimits
		tenant  VelocityLimits
		req     func(i int) CreateRequest // the i-th create
		burst   int
		retry   time.Duration
		detail  string
		another CreateRequest // not held back by the full bucket
	}{
		{
			name:    "country",
			limits:  VelocityLimits{Country: Velocity{Rate: 2, Burst: 3}, Prefix: off, Client: off},
			req:     func(i int) CreateRequest { return CreateRequest{Number: fmt.Sprintf("+3934712%05d", i)} },
			burst:   3,
			retry:   500 * time.Millisecond,
			detail:  "too many verifications to IT for this tenant (fraud velocity: country); retry in 500ms",
			another: CreateRequest{Number: "+447400123456"},
		},
		{
			name:    "prefix of 8 digits",
			limits:  VelocityLimits{Country: off, Prefix: Velocity{Rate: 0.1, Burst: 2}, Client: off},
			req:     func(i int) CreateRequest { return CreateRequest{Number: fmt.Sprintf("+3934712%05d", i)} },
			burst:   2,
			retry:   10 * time.Second,
			detail:  "too many verifications to the numbers starting +39347120 for this tenant (fraud velocity: prefix); retry in 10s",
			another: CreateRequest{Number: "+393471312345"},
		},
		{
			name:    "prefix digits of the tenant",
			limits:  VelocityLimits{Country: off, Prefix: Velocity{Rate: 0.1, Burst: 2}, Client: off},
			tenant:  VelocityLimits{PrefixDigits: 4},
			req:     func(i int) CreateRequest { return CreateRequest{Number: fmt.Sprintf("+3934%d1234567", i%10)} },
			burst:   2,
			retry:   10 * time.Second,
			detail:  "too many verifications to the numbers starting +3934 for this tenant (fraud velocity: prefix); retry in 10s",
			another: CreateRequest{Number: "+393312345678"},
		},
		{
			name:   "client_ip",
			limits: VelocityLimits{Country: off, Prefix: off, Client: Velocity{Rate: 1.0 / 60, Burst: 2}},
			req: func(i int) CreateRequest {
				return CreateRequest{Number: fmt.Sprintf("+39347%07d", i*100000), ClientIP: "192.0.2.7"}
			},
			burst:   2,
			retry:   time.Minute,
			detail:  "too many verifications for the end user at 192.0.2.7 (fraud velocity: client, client_ip); retry in 1m0s",
			another: CreateRequest{Number: "+393479999999", ClientIP: "192.0.2.8"},
		},
		{
			name:   "client_ip: an IPv6 user is its /64",
			limits: VelocityLimits{Country: off, Prefix: off, Client: Velocity{Rate: 1.0 / 60, Burst: 2}},
			req: func(i int) CreateRequest {
				return CreateRequest{Number: fmt.Sprintf("+39347%07d", i*100000), ClientIP: fmt.Sprintf("2001:db8:1:2::%x", i+1)}
			},
			burst:   2,
			retry:   time.Minute,
			detail:  "too many verifications for the end user at 2001:db8:1:2:: (fraud velocity: client, client_ip); retry in 1m0s",
			another: CreateRequest{Number: "+393479999999", ClientIP: "2001:db8:1:3::1"},
		},
		{
			name:   "client_ref",
			limits: VelocityLimits{Country: off, Prefix: off, Client: Velocity{Rate: 1.0 / 60, Burst: 1}},
			req: func(i int) CreateRequest {
				return CreateRequest{Number: fmt.Sprintf("+39347%07d", i*100000), ClientRef: "user-42", EndUser: "user-42"}
			},
			burst:   1,
			retry:   time.Minute,
			detail:  "too many verifications for the end user user-42 (fraud velocity: client, client_ref); retry in 1m0s",
			another: CreateRequest{Number: "+393479999999", ClientRef: "user-42"}, // a vendor's correlation ref alone is no end user
		},
		{
			name:    "the tenant's own limit replaces the gateway's",
			limits:  VelocityLimits{Country: Velocity{Rate: 100, Burst: 100}, Prefix: off, Client: off},
			tenant:  VelocityLimits{Country: Velocity{Rate: 1, Burst: 1}},
			req:     func(i int) CreateRequest { return CreateRequest{Number: fmt.Sprintf("+3934712%05d", i)} },
			burst:   1,
			retry:   time.Second,
			detail:  "too many verifications to IT for this tenant (fraud velocity: country); retry in 1s",
			another: CreateRequest{Number: "+4915123456789"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessLimits(t, Limits{NumberSends: Window{Max: -1}, NumberChecks: Window{Max: -1}, Velocity: tt.limits})
			h.tenant.Velocity = tt.tenant
			create := func(r CreateRequest) error {
				r.Tenant = "acme"
				_, err := h.e.Create(context.Background(), r)
				return err
			}
			for i := 0; i < tt.burst; i++ {
				if err := create(tt.req(i)); err != nil {
					t.Fatalf("create %d of the burst: %v", i, err)
				}
			}
			err := create(tt.req(tt.burst))
			var le *LimitError
			if !errors.As(err, &le) || le.Code != "velocity_limit" || le.RetryAfter != tt.retry || le.Detail != tt.detail {
				t.Fatalf("over the burst: %v (%+v)\nwant velocity_limit, %s, %q", err, le, tt.retry, tt.detail)
			}
			if err := create(tt.another); err != nil {
				t.Fatalf("another key: %v", err)
			}
			h.advanceClock(tt.retry)
			if err := create(tt.req(tt.burst + 1)); err != nil {
				t.Fatalf("after %s: %v", tt.retry, err)
			}
		})
	}
}

// TestVelocityOffAndBadClientIP: a negative rate turns a limit off; a
// client_ip that is no address is refused naming it.
func TestVelocityOffAndBadClientIP(t *testing.T) {
	off := Velocity{Rate: -1}
	h := newHarnessLimits(t, Limits{NumberSends: Window{Max: -1}, NumberChecks: Window{Max: -1}, Velocity: VelocityLimits{Country: off, Prefix: off, Client: off}})
	for i := 0; i < 300; i++ {
		if _, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: fmt.Sprintf("+3934712%05d", i), ClientIP: "192.0.2.1"}); err != nil {
			t.Fatalf("create %d with every limit off: %v", i, err)
		}
	}
	_, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+393471299999", ClientIP: "not-an-ip"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "client_ip" {
		t.Fatalf("client_ip not-an-ip: %v", err)
	}
}

// TestCallLimits: calls to one number, all tenants together, stop at the
// limit: the call over it is not placed, its step fails (voice_limit) and
// the next step (SMS) starts at once.
func TestCallLimits(t *testing.T) {
	h := newHarness(t)
	h.e.cfg.Channels = map[string]bool{ChannelSMS: true, ChannelVoice: true}
	h.e.cfg.Limits.CallsPerNumber = Velocity{Rate: 1.0 / 3600, Burst: 1}
	calls := func() int {
		h.voice.mu.Lock()
		defer h.voice.mu.Unlock()
		return len(h.voice.calls)
	}
	if _, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+393471234567", Channel: "voice"}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	waitFor(t, func() bool { return calls() == 1 })
	c, err := h.e.Create(context.Background(), CreateRequest{Tenant: "acme", Number: "+393471234567", Workflow: []string{"voice", "sms"}, PendingPolicy: PolicyReplace})
	if err != nil {
		t.Fatal(err)
	}
	h.drain()
	h.drain()
	v, _ := h.e.Get(context.Background(), "acme", c.ID)
	if calls() != 1 || v.Messages[0].State != MsgFailed || v.Messages[0].Error != "voice_limit" || v.Step != 1 {
		t.Fatalf("the call over the limit: %d calls, %+v (step %d)", calls(), v.Messages, v.Step)
	}
	// another tenant's calls are its own: it cannot use up this number's
	if _, err := h.e.Create(context.Background(), CreateRequest{Tenant: "other", Number: "+393471234567", Channel: "voice"}); err != nil {
		t.Fatal(err)
	}
	h.drain()
	waitFor(t, func() bool { return calls() == 2 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
