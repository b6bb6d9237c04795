package enginetest

import (
	"bufio"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/store"
)

// lifecycle is the engine's behaviour as data: cases of steps (create,
// send, receipt, check, advance the clock, run the timers, cancel …), each
// with the outcome it must have. The format is described at its top.
//
//go:embed testdata/lifecycle.txt
var lifecycle string

// Lifecycle runs testdata/lifecycle.txt on stores newStore makes, a fresh
// harness for each case.
func Lifecycle(t *testing.T, newStore NewStore) {
	sc := bufio.NewScanner(strings.NewReader(lifecycle))
	var h *Harness
	name := ""
	cases := 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cmd, want, _ := strings.Cut(text, " -> ")
		fields := strings.Fields(cmd)
		at := fmt.Sprintf("lifecycle.txt:%d (%s)", line, name)
		if fields[0] == "case" {
			name = fields[1]
			h = New(t, newStore, Options{})
			cases++
			continue
		}
		if fields[0] == "limits" { // limits sends=N/DUR checks=N/DUR: a fresh engine with these limits
			l := engine.Limits{NumberSends: engine.Window{Max: -1}, NumberChecks: engine.Window{Max: -1}}
			for k, v := range kv(fields[1:]) {
				n, per, _ := strings.Cut(v, "/")
				w := engine.Window{}
				w.Max, _ = strconv.Atoi(n)
				w.Per, _ = time.ParseDuration(per)
				if k == "sends" {
					l.NumberSends = w
				} else {
					l.NumberChecks = w
				}
			}
			h = New(t, newStore, Options{Limits: l})
			continue
		}
		h.step(at, fields, strings.TrimSpace(want))
	}
	if cases < 10 {
		t.Fatalf("only %d cases read", cases)
	}
}

func kv(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func (h *Harness) step(at string, fields []string, want string) {
	t := h.T
	ctx := context.Background()
	args := kv(fields[1:])
	switch fields[0] {
	case "tenant":
		h.Tenant.PendingPolicy = args["policy"]
		h.Tenant.CustomCodes = args["custom_codes"] == "true"
	case "create":
		req := engine.CreateRequest{Tenant: "acme", Number: "+393471234567"}
		for k, v := range args {
			switch k {
			case "number":
				req.Number = v
			case "country":
				req.Country = v
			case "max_attempts":
				req.MaxAttempts, _ = strconv.Atoi(v)
			case "code_length":
				req.CodeLength, _ = strconv.Atoi(v)
			case "code_type":
				req.CodeType = v
			case "ttl":
				n, _ := strconv.Atoi(v)
				req.TTL = time.Duration(n) * time.Second
			case "channel":
				req.Channel = v
			case "workflow":
				req.Workflow = strings.Split(v, ",")
			case "template":
				req.Template = strings.ReplaceAll(v, "_", " ")
			case "sender_id":
				req.SenderID = v
			case "brand": // Go escapes allowed: \u202e
				b, err := strconv.Unquote(`"` + v + `"`)
				if err != nil {
					t.Fatalf("%s: brand: %v", at, err)
				}
				req.Brand = b
			case "locale":
				req.Locale = v
			case "next_event_wait":
				n, _ := strconv.Atoi(v)
				req.NextEventWait = time.Duration(n) * time.Second
			case "policy":
				req.PendingPolicy = v
			case "code":
				req.Code = v
			case "step_waits":
				for _, w := range strings.Split(v, ",") {
					d, err := time.ParseDuration(w)
					if err != nil {
						t.Fatalf("%s: step_waits: %v", at, err)
					}
					req.StepWaits = append(req.StepWaits, d)
				}
			case "api":
				req.API = v
			case "scope":
				req.Scope = v
			case "idem":
				req.IdempotencyKey = v
			case "body":
				req.BodyHash = []byte(v)
			default:
				t.Fatalf("%s: unknown create field %s", at, k)
			}
		}
		v, err := h.E.Create(ctx, req)
		reused := err == nil && v.Reused
		got := "ok"
		switch {
		case err != nil:
			var fe *engine.FieldError
			var ce *engine.ConcurrentError
			var le *engine.LimitError
			switch {
			case errors.As(err, &le):
				got = fmt.Sprintf("error %s retry=%s", le.Code, le.RetryAfter)
			case errors.As(err, new(*engine.IdempotencyError)):
				got = "error idempotency_key_reused"
			case errors.As(err, &fe):
				got = "error " + fe.Code + " " + fe.Field
			case errors.As(err, &ce):
				got = "error concurrent_verification"
			default:
				got = "error " + err.Error()
			}
		case reused && v.Resent:
			got = "resent"
		case reused:
			got = "reused"
		case v.Replayed:
			got = "replayed " + map[bool]string{true: "same-id", false: "other-id"}[v.ID == h.Last]
		}
		if want == "" {
			want = "ok"
		}
		if strings.TrimSpace(got) != want {
			t.Fatalf("%s: create = %q, want %q", at, got, want)
		}
		if err == nil && !reused && !v.Replayed {
			if h.First == "" {
				h.First = v.ID
			}
			h.Last = v.ID
		}
	case "send":
		switch {
		case len(fields) > 1 && fields[1] == "fail":
			h.SMSC.Fail = errors.New("link down")
		case len(fields) > 1 && fields[1] == "permanent":
			h.SMSC.Fail = PermanentError{}
		default:
			h.SMSC.Fail = nil
		}
		h.Send()
	case "sent":
		n, _ := strconv.Atoi(fields[1])
		if h.SMSC.N != n {
			t.Fatalf("%s: sent %d, want %d", at, h.SMSC.N, n)
		}
	case "receipt": // receipt delivered|undelivered [part=N] [as=decimal]
		r, _ := h.St.Get(h.Last)
		m := r.Messages[len(r.Messages)-1]
		mid := m.MessageID
		if p, ok := args["part"]; ok {
			n, _ := strconv.Atoi(p)
			mid = m.Parts[n-1].ID
		}
		rc := engine.Receipt{Connector: m.Connector, MessageID: mid, Delivered: fields[1] == "delivered", Final: true, State: strings.ToUpper(fields[1])}
		if args["as"] == "alias" { // reported under another spelling, the stored one among the alternatives
			rc.MessageID, rc.AltIDs = "ALIAS-"+mid, []string{"nope", mid}
		}
		h.E.HandleReceipt(rc)
	case "chat": // chat ok|throttled|not-a-user|timeout: how the WhatsApp account answers next
		h.Chat.mu.Lock()
		h.Chat.Mode = fields[1]
		h.Chat.mu.Unlock()
	case "chat-sent", "chat2-sent": // chat-sent N: the WhatsApp account wa (wa2) took N messages
		c := h.Chat
		if fields[0] == "chat2-sent" {
			c = h.Chat2
		}
		c.mu.Lock()
		n := len(c.Msgs)
		c.mu.Unlock()
		if strconv.Itoa(n) != fields[1] {
			t.Fatalf("%s: the WhatsApp account took %d messages, want %s", at, n, fields[1])
		}
	case "wa-status": // wa-status sent|delivered|read|failed [noref] [noid] [on=wa2]: a status callback of the account's last message
		out, wamid, ok := h.Chat.Last()
		if !ok { // the process died after Meta took it: only the callback knows
			r, err := h.St.Get(h.Last)
			if err != nil {
				t.Fatalf("%s: %v", at, err)
			}
			out.Ref, wamid = engine.MessageRef(h.Last, len(r.Messages)-1), "w-lost"
		}
		rc := engine.Receipt{Connector: "wa", MessageID: wamid, Ref: out.Ref, State: fields[1],
			Final: fields[1] != "sent", Delivered: fields[1] == "delivered" || fields[1] == "read", Read: fields[1] == "read"}
		if fields[1] == "failed" {
			rc.Err = "not_on_whatsapp"
		}
		for _, f := range fields[2:] {
			switch {
			case f == "noref":
				rc.Ref = ""
			case f == "noid":
				rc.MessageID = ""
			case strings.HasPrefix(f, "on="):
				rc.Connector = f[3:]
			}
		}
		h.E.HandleReceipt(rc)
	case "chat2-status-first": // chat2-status-first STATE: wa2's status callback comes before its send's answer
		state := fields[1]
		h.Chat2.Before = func(m engine.Outbound, id string) {
			h.E.HandleReceipt(engine.Receipt{Connector: "wa2", MessageID: id, Ref: m.Ref, State: state, Final: true,
				Delivered: state == "delivered", Err: map[bool]string{true: "not_on_whatsapp"}[state == "failed"]})
		}
	case "handed": // the last message was handed to its connector and the process died before the answer was recorded
		r, err := h.St.Get(h.Last)
		if err != nil {
			t.Fatalf("%s: %v", at, err)
		}
		connector := "smsc"
		if ch := r.Messages[len(r.Messages)-1].Channel; ch == engine.ChannelWhatsApp {
			connector = "wa"
		}
		if err := h.St.MarkHanded(h.Last, len(r.Messages)-1, connector, h.Clock()); err != nil {
			t.Fatalf("%s: %v", at, err)
		}
	case "message": // message STATE [error=E]: the last message's state
		r, _ := h.St.Get(h.Last)
		m := r.Messages[len(r.Messages)-1]
		got := m.State
		if e, ok := args["error"]; ok && m.Error != e {
			t.Fatalf("%s: message error = %q, want %q", at, m.Error, e)
		}
		if got != fields[1] {
			t.Fatalf("%s: message state = %s (%s), want %s", at, got, m.Channel, fields[1])
		}
	case "parts":
		h.SMSC.Parts, _ = strconv.Atoi(fields[1])
	case "voice": // the fake trunk's next outcomes
		h.Voice.mu.Lock()
		h.Voice.Outcome = fields[1]
		h.Voice.mu.Unlock()
	case "calls": // calls placed so far (waits for running ones to record)
		n, _ := strconv.Atoi(fields[1])
		deadline := time.Now().Add(2 * time.Second)
		for {
			h.Send() // steps that a call's outcome started
			h.Voice.mu.Lock()
			got := len(h.Voice.Calls)
			h.Voice.mu.Unlock()
			if got == n || time.Now().After(deadline) {
				if got != n {
					t.Fatalf("%s: %d calls, want %d", at, got, n)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // the outcome's Update
	case "hungup":
		n, _ := strconv.Atoi(fields[1])
		deadline := time.Now().Add(2 * time.Second)
		for {
			h.Voice.mu.Lock()
			got := h.Voice.HungUp
			h.Voice.mu.Unlock()
			if got == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d calls hung up, want %d", at, got, n)
			}
			time.Sleep(time.Millisecond)
		}
	case "next":
		_, err := h.E.Next(ctx, "acme", h.Last)
		got := "ok"
		switch {
		case errors.Is(err, engine.ErrNoNextStep):
			got = "no_next_step"
		case errors.Is(err, engine.ErrNotPending):
			got = "not_pending"
		case err != nil:
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: next = %s, want %s", at, got, want)
		}
	case "check":
		code := fields[1]
		switch code {
		case "right":
			code = h.LastCode()
		case "right-lower-spaced":
			c := strings.ToLower(h.LastCode())
			code = c[:3] + " " + c[3:]
		case "wrong":
			code = "ZZZZZZZZZZZZ"
		}
		res, err := h.E.Check(ctx, "acme", h.Last, code)
		var le *engine.LimitError
		if errors.As(err, &le) {
			if got := fmt.Sprintf("error %s retry=%s", le.Code, le.RetryAfter); got != want {
				t.Fatalf("%s: check = %q, want %q", at, got, want)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: check: %v", at, err)
		}
		for k, v := range kv(strings.Fields(want)) {
			var got string
			switch k {
			case "verified":
				got = strconv.FormatBool(res.Verified)
			case "status":
				got = res.Status
			case "left":
				got = strconv.Itoa(res.AttemptsLeft)
			case "reason":
				got = res.Reason
			}
			if got != v {
				t.Fatalf("%s: check %s = %s, want %s (%+v)", at, k, got, v, res)
			}
		}
	case "approve":
		_, err := h.E.Approve(ctx, "acme", h.Last)
		got := "ok"
		if errors.Is(err, engine.ErrNotPending) {
			got = "not_pending"
		} else if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: approve = %s, want %s", at, got, want)
		}
	case "find-pending":
		v, err := h.E.FindPending(ctx, "acme", fields[1], "")
		got := "none"
		if err == nil {
			got = map[bool]string{true: "last", false: v.ID}[v.ID == h.Last]
		} else if !errors.Is(err, engine.ErrNotFound) {
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: find-pending = %s, want %s", at, got, want)
		}
	case "record-left":
		v, err := h.E.Get(ctx, "acme", h.Last)
		if err != nil || strconv.Itoa(v.AttemptsLeft) != fields[1] {
			t.Fatalf("%s: the record's attempts_left = %d (%v), want %s", at, v.AttemptsLeft, err, fields[1])
		}
	case "advance":
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		h.Advance(d)
	case "tick":
		h.E.RunDue(ctx, 1000)
	case "cancel":
		_, err := h.E.Cancel(ctx, "acme", h.Last)
		got := "ok"
		if errors.Is(err, engine.ErrNotPending) {
			got = "not_pending"
		} else if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Fatalf("%s: cancel = %s, want %s", at, got, want)
		}
	case "status", "first-status":
		id := h.Last
		if fields[0] == "first-status" {
			id = h.First
		}
		r, err := h.St.Get(id)
		if err != nil || r.Status != fields[1] {
			t.Fatalf("%s: status = %v %v, want %s", at, r.Status, err, fields[1])
		}
		if r.Status != engine.StatusPending {
			kinds := []string{}
			for _, d := range r.Deadlines {
				kinds = append(kinds, d.Kind)
			}
			if r.CodeSealed != nil || strings.Join(kinds, ",") != "purge" {
				t.Fatalf("%s: ended record keeps a sealed code (%v) or timers other than the purge: %v", at, r.CodeSealed != nil, kinds)
			}
		}
	case "same-code": // the last call read the code of the SMS
		h.Voice.mu.Lock()
		c := h.Voice.Calls[len(h.Voice.Calls)-1].Code
		h.Voice.mu.Unlock()
		h.SMSC.mu.Lock()
		text := h.SMSC.Msgs[len(h.SMSC.Msgs)-1].Text
		h.SMSC.mu.Unlock()
		if !strings.Contains(text, c) {
			t.Fatalf("%s: call read %q, SMS was %q", at, c, text)
		}
	case "event-detail": // event-detail TYPE TEXT: the last event of TYPE says TEXT (underscores for spaces)
		r, _ := h.St.Get(h.Last)
		want := strings.ReplaceAll(fields[2], "_", " ")
		for i := len(r.Events) - 1; i >= 0; i-- {
			if r.Events[i].Type == fields[1] {
				if !strings.Contains(r.Events[i].Detail, want) {
					t.Fatalf("%s: %s event says %q, want it to say %q", at, fields[1], r.Events[i].Detail, want)
				}
				return
			}
		}
		t.Fatalf("%s: no %s event", at, fields[1])
	case "same-chat-code": // the last SMS and the last WhatsApp message hold the same code
		out, _, _ := h.Chat.Last()
		h.SMSC.mu.Lock()
		text := h.SMSC.Msgs[len(h.SMSC.Msgs)-1].Text
		h.SMSC.mu.Unlock()
		if out.Code == "" || !strings.Contains(text, out.Code) {
			t.Fatalf("%s: WhatsApp code %q, SMS %q", at, out.Code, text)
		}
	case "same-sms-code": // the last two SMS hold the same code
		h.SMSC.mu.Lock()
		n := len(h.SMSC.Msgs)
		a, b := h.SMSC.Msgs[n-2].Text, h.SMSC.Msgs[n-1].Text
		h.SMSC.mu.Unlock()
		if a != b {
			t.Fatalf("%s: resent SMS %q, first %q", at, b, a)
		}
	case "gone":
		if _, err := h.St.Get(h.Last); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s: record still there: %v", at, err)
		}
	case "events":
		r, _ := h.St.Get(h.Last)
		var types []string
		for _, e := range r.Events {
			types = append(types, e.Type)
		}
		if got := strings.Join(types, ","); got != fields[1] {
			t.Fatalf("%s: events = %s, want %s", at, got, fields[1])
		}
	default:
		t.Fatalf("%s: unknown step %q", at, fields[0])
	}
}
