package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/store"
)

// Run runs the whole contract suite on stores newStore makes: the engine's
// behaviour through them, and the store's own promises.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Lifecycle", func(t *testing.T) { Lifecycle(t, newStore) })
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, newStore NewStore)
	}{
		{"TenantsApart", tenantsApart},
		{"NoCodeStored", noCodeStored},
		{"ReceiptBeforeSubmit", receiptBeforeSubmit},
		{"ConcurrentChecks", concurrentChecks},
		{"WebhooksInOrder", webhooksInOrder},
		{"StoreOnePending", storeOnePending},
		{"StoreApplyAtomic", storeApplyAtomic},
		{"StoreLimits", storeLimits},
		{"StoreIndexes", storeIndexes},
		{"StoreDeadlines", storeDeadlines},
		{"StoreOutbox", storeOutbox},
		{"StoreKeyed", storeKeyed},
		{"StoreHanded", storeHanded},
		{"StorePurge", storePurge},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStore) })
	}
}

// tenantsApart: a tenant never sees, checks or cancels another's
// verification, and its tries change nothing.
func tenantsApart(t *testing.T, newStore NewStore) {
	h := New(t, newStore, Options{})
	v, err := h.Create(engine.CreateRequest{Number: "+393471234567"})
	if err != nil {
		t.Fatal(err)
	}
	h.Send()
	ctx := context.Background()
	if _, err := h.E.Get(ctx, "other", v.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("get by the other tenant: %v", err)
	}
	if _, err := h.E.Check(ctx, "other", v.ID, h.LastCode()); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("check by the other tenant: %v", err)
	}
	if _, err := h.E.Cancel(ctx, "other", v.ID); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("cancel by the other tenant: %v", err)
	}
	if _, err := h.E.FindPending(ctx, "other", "+393471234567", ""); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("find by the other tenant: %v", err)
	}
	if res, _ := h.E.Check(ctx, "acme", v.ID, h.LastCode()); !res.Verified {
		t.Fatal("the other tenant's tries touched the verification")
	}
}

// noCodeStored: what the store holds never has the code in clear.
func noCodeStored(t *testing.T, newStore NewStore) {
	h := New(t, newStore, Options{})
	v, err := h.Create(engine.CreateRequest{Number: "+393471234567", CodeLength: 10})
	if err != nil {
		t.Fatal(err)
	}
	h.Send()
	r, err := h.St.Get(v.ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(r)
	if strings.Contains(string(raw), h.LastCode()) {
		t.Fatal("the stored record holds the code")
	}
}

// receiptBeforeSubmit: a receipt that overtakes the record of its submit
// is applied once the submit is recorded.
func receiptBeforeSubmit(t *testing.T, newStore NewStore) {
	h := New(t, newStore, Options{})
	v, _ := h.Create(engine.CreateRequest{Number: "+393471234567"})
	h.E.HandleReceipt(engine.Receipt{Connector: "smsc", MessageID: "m1", Delivered: true, Final: true, State: "DELIVRD"})
	h.Send()
	r, _ := h.St.Get(v.ID)
	if r.Messages[0].State != engine.MsgDelivered {
		t.Fatalf("message state %s, want delivered", r.Messages[0].State)
	}
}

// concurrentChecks: 40 concurrent wrong checks never use more than
// max_attempts.
func concurrentChecks(t *testing.T, newStore NewStore) {
	h := New(t, newStore, Options{})
	v, _ := h.Create(engine.CreateRequest{Number: "+393471234567", MaxAttempts: 3})
	h.Send()
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.E.Check(context.Background(), "acme", v.ID, "000000x"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, _ := h.St.Get(v.ID)
	if r.Attempts != 3 || r.Status != engine.StatusFailed {
		t.Fatalf("attempts=%d status=%s after 40 concurrent wrong checks; want 3, failed", r.Attempts, r.Status)
	}
}

// webhooksInOrder: a verification's webhooks leave through the store's
// outbox in the order of their changes, signed, retried until taken.
func webhooksInOrder(t *testing.T, newStore NewStore) {
	var mu sync.Mutex
	var got []string
	fail := 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			w.WriteHeader(503)
			return
		}
		if r.Header.Get(engine.SignatureHeader) == "" {
			t.Error("an unsigned webhook")
		}
		var ev engine.WebhookEvent
		json.Unmarshal(b, &ev)
		got = append(got, ev.Type)
	}))
	defer srv.Close()
	h := New(t, newStore, Options{Webhooks: engine.WebhookConfig{AllowLoopback: true, RetryMin: time.Second, RetryMax: time.Second}})
	h.Tenant.WebhookSecret = "s3cret"
	v, err := h.Create(engine.CreateRequest{Number: "+393471234567", CallbackURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	h.Send()
	h.E.HandleReceipt(engine.Receipt{Connector: "smsc", MessageID: "m1", Delivered: true, Final: true, State: "DELIVRD"})
	if res, _ := h.E.Check(context.Background(), "acme", v.ID, h.LastCode()); !res.Verified {
		t.Fatal("not verified")
	}
	for range 20 {
		h.E.RunDue(context.Background(), 100)
		h.Send()
		h.Advance(2 * time.Second)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "message.delivered,verification.verified" {
		t.Fatalf("webhooks %v, want message.delivered then verification.verified", got)
	}
	if r, _ := h.St.Get(v.ID); r.HooksPending() {
		t.Fatal("the outbox still holds items")
	}
}

// The store's own promises, through the interface alone.

func record(id, number string, at time.Time) *store.Record {
	return &store.Record{ID: id, Tenant: "t", Number: number, Status: "pending", MaxAttempts: 3,
		CreatedAt: at, ExpiresAt: at.Add(time.Minute), UpdatedAt: at,
		Deadlines: []store.Deadline{{At: at.Add(time.Minute), Kind: "expire"}}}
}

var at0 = time.Unix(1_800_000_000, 0).UTC()

// storeOnePending: of many concurrent creates of one number, one is
// stored; the others are refused naming it, and stored nothing.
func storeOnePending(t *testing.T, newStore NewStore) {
	st := newStore(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	refused := map[string]bool{}
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("p%02d", i)
			err := st.Create(record(id, "+391", at0), store.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			var pe *store.PendingExistsError
			switch {
			case err == nil:
				won = append(won, id)
			case errors.As(err, &pe):
				refused[id] = true
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d creates of one pending number stored", len(won))
	}
	for id := range refused {
		if _, err := st.Get(id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("refused %s was stored: %v", id, err)
		}
	}
	if id, ok, _ := st.Lookup(store.PendingIndex, "t", "+391"); !ok || id != won[0] {
		t.Fatalf("pending index %q %v, want %s", id, ok, won[0])
	}
}

// storeApplyAtomic: concurrent changes of one record all land, each on
// the one before; ErrNoChange writes nothing; a change of identity is
// refused.
func storeApplyAtomic(t *testing.T, newStore NewStore) {
	st := newStore(t)
	if err := st.Create(record("a", "+391", at0), store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Apply("a", func(r *store.Record) error {
				r.Attempts++
				r.Events = append(r.Events, store.Event{At: at0, Type: "x"})
				return nil
			}, store.ApplyOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r, err := st.Get("a")
	if err != nil || r.Attempts != 50 || len(r.Events) != 50 {
		t.Fatalf("after 50 concurrent changes: attempts %d, %d events, %v", r.Attempts, len(r.Events), err)
	}
	if _, err := st.Apply("a", func(r *store.Record) error { r.Attempts = 999; return store.ErrNoChange }, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply("a", func(r *store.Record) error { r.Tenant = "u"; return nil }, store.ApplyOptions{}); err == nil {
		t.Fatal("a change of the record's tenant was taken")
	}
	if r, _ := st.Get("a"); r.Attempts != 50 || r.Tenant != "t" {
		t.Fatalf("refused changes were written: %+v", r)
	}
	if _, err := st.Apply("nope", func(r *store.Record) error { return nil }, store.ApplyOptions{}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("apply to a missing record: %v", err)
	}
	// a lazy change reads back like any other
	if _, err := st.Apply("a", func(r *store.Record) error { r.Step = 1; return nil }, store.ApplyOptions{Lazy: true}); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Get("a"); r.Step != 1 {
		t.Fatalf("lazy change: step %d", r.Step)
	}
}

// storeLimits: a create or a change counted against a full limit is
// refused with when to retry, and writes nothing; ErrNoChange counts
// nothing; the window slides.
func storeLimits(t *testing.T, newStore NewStore) {
	st := newStore(t)
	lim := func(at time.Time) *store.Limit {
		return &store.Limit{Name: "sends", Window: 10 * time.Minute, Max: 2, Now: at}
	}
	if err := st.Create(record("a", "+391", at0), store.CreateOptions{Limit: lim(at0)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(record("b", "+392", at0.Add(2*time.Minute)), store.CreateOptions{Limit: lim(at0.Add(2 * time.Minute))}); err != nil {
		t.Fatal(err)
	}
	var le *store.LimitedError
	if err := st.Create(record("c", "+393", at0.Add(3*time.Minute)), store.CreateOptions{Limit: lim(at0.Add(3 * time.Minute))}); !errors.As(err, &le) || le.RetryAfter != 7*time.Minute {
		t.Fatalf("third create in the window: %v", err)
	}
	if _, err := st.Get("c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused create was stored: %v", err)
	}
	if ok, wait := st.Allows(*lim(at0.Add(3 * time.Minute))); ok || wait != 7*time.Minute {
		t.Fatalf("Allows: %v %s", ok, wait)
	}
	count := func(at time.Time) func(*store.Record) *store.Limit {
		return func(*store.Record) *store.Limit {
			return &store.Limit{Name: "checks", Window: time.Minute, Max: 1, Now: at}
		}
	}
	if _, err := st.Apply("a", func(r *store.Record) error { return store.ErrNoChange }, store.ApplyOptions{Limit: count(at0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply("a", func(r *store.Record) error { r.Attempts++; return nil }, store.ApplyOptions{Limit: count(at0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply("a", func(r *store.Record) error { r.Attempts++; return nil }, store.ApplyOptions{Limit: count(at0)}); !errors.As(err, &le) {
		t.Fatalf("a change over the limit: %v", err)
	}
	if r, _ := st.Get("a"); r.Attempts != 1 {
		t.Fatalf("attempts %d, want 1", r.Attempts)
	}
	if err := st.Create(record("c", "+393", at0.Add(10*time.Minute)), store.CreateOptions{Limit: lim(at0.Add(10 * time.Minute))}); err != nil {
		t.Fatalf("the window slid, yet: %v", err)
	}
}

// storeIndexes: the pending index follows the status, the last index
// the end, the message index every connector id a record ever had.
func storeIndexes(t *testing.T, newStore NewStore) {
	st := newStore(t)
	if err := st.Create(record("a", "+391", at0), store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply("a", func(r *store.Record) error {
		r.Messages = []store.Message{{Channel: "sms", Connector: "c1", MessageID: "m1", Parts: []store.Part{{ID: "m1"}, {ID: "m2"}}, State: "submitted"}}
		return nil
	}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, mid := range []string{"m1", "m2"} {
		if id, ok, _ := st.Lookup(store.MessageIndex, "c1", mid); !ok || id != "a" {
			t.Fatalf("message %s: %q %v", mid, id, ok)
		}
	}
	if _, ok, _ := st.Lookup(store.MessageIndex, "c2", "m1"); ok {
		t.Fatal("a message id found under another connector")
	}
	if _, ok, _ := st.Lookup(store.LastIndex, "t", "+391"); ok {
		t.Fatal("a pending verification is the pair's last ended one")
	}
	if _, err := st.Apply("a", func(r *store.Record) error { r.Status = "verified"; return nil }, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Lookup(store.PendingIndex, "t", "+391"); ok {
		t.Fatal("an ended verification is still pending in the index")
	}
	if id, ok, _ := st.Lookup(store.LastIndex, "t", "+391"); !ok || id != "a" {
		t.Fatalf("last: %q %v", id, ok)
	}
	if err := st.Create(record("b", "+391", at0), store.CreateOptions{}); err != nil {
		t.Fatalf("a new pending verification after the end: %v", err)
	}
	if _, ok, _ := st.Lookup(store.PendingIndex, "u", "+391"); ok {
		t.Fatal("another tenant's pair found")
	}
}

// storeDeadlines: due deadlines come oldest first, up to the limit, with
// the next one after them; a changed record's old deadlines are gone.
func storeDeadlines(t *testing.T, newStore NewStore) {
	st := newStore(t)
	for i := range 5 {
		r := record(fmt.Sprintf("r%d", i), fmt.Sprintf("+39%d", i), at0.Add(time.Duration(4-i)*time.Second))
		if err := st.Create(r, store.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	due, next, err := st.Due(at0.Add(time.Minute+2*time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 3 || due[0].ID != "r4" || due[2].ID != "r2" || !next.Equal(at0.Add(time.Minute+3*time.Second)) {
		t.Fatalf("due %+v, next %v", due, next)
	}
	if due, _, _ := st.Due(at0.Add(time.Hour), 2); len(due) != 2 {
		t.Fatalf("limit 2: %d due", len(due))
	}
	if _, err := st.Apply("r4", func(r *store.Record) error {
		r.Deadlines = []store.Deadline{{At: at0.Add(time.Hour), Kind: "expire"}}
		return nil
	}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	due, _, _ = st.Due(at0.Add(time.Minute+2*time.Second), 100)
	if len(due) != 2 || due[0].ID != "r3" {
		t.Fatalf("after moving r4's deadline: %+v", due)
	}
	var seen []string
	if err := st.Deadlines(at0, at0.Add(2*time.Hour), "expire", func(d store.Due) bool { seen = append(seen, d.ID); return true }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 5 || seen[4] != "r4" {
		t.Fatalf("deadlines in the range: %v", seen)
	}
}

// storeOutbox: webhook items are written with the change that made them,
// read by sequence, removed when done, moved to the dead letters when dead.
func storeOutbox(t *testing.T, newStore NewStore) {
	st := newStore(t)
	if err := st.Create(record("a", "+391", at0), store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply("a", func(r *store.Record) error {
		for i := range 3 {
			r.AddHook(store.Hook{URL: "https://h/x", Body: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: at0})
		}
		return nil
	}, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	h0, err := st.Hook("a", 0)
	if err != nil || string(h0.Body) != `{"n":0}` || h0.Tenant != "t" {
		t.Fatalf("head %+v %v", h0, err)
	}
	if _, err := st.Apply("a", func(r *store.Record) error { r.HookDone(*h0); return nil }, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	h1, _ := st.Hook("a", 1)
	if _, err := st.Apply("a", func(r *store.Record) error { r.HookDead(*h1, at0); return nil }, store.ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Hook("a", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a delivered item is still in the outbox")
	}
	if dead, _ := st.DeadHooks("t", 10); len(dead) != 1 || string(dead[0].Body) != `{"n":1}` {
		t.Fatalf("dead letters %+v", dead)
	}
	if dead, _ := st.DeadHooks("other", 10); len(dead) != 0 {
		t.Fatal("another tenant's dead letters listed")
	}
	if r, _ := st.Get("a"); r.HookHead != 2 || r.HookSeq != 3 {
		t.Fatalf("head %d seq %d", r.HookHead, r.HookSeq)
	}
	if err := st.PurgeDead(at0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if dead, _ := st.DeadHooks("", 10); len(dead) != 0 {
		t.Fatal("purged dead letters remain")
	}
}

// storeKeyed: keyed values expire; sequences count up per name.
func storeKeyed(t *testing.T, newStore NewStore) {
	st := newStore(t)
	if err := st.PutKeyed(store.Keyed{Name: "k", Value: []byte("v"), Expires: at0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := st.GetKeyed("k", at0); !ok || string(v) != "v" {
		t.Fatalf("get: %q %v", v, ok)
	}
	if _, ok, _ := st.GetKeyed("k", at0.Add(time.Minute)); ok {
		t.Fatal("an expired value was returned")
	}
	if n, err := st.ExpireKeyed(at0.Add(2*time.Minute), 100); err != nil || n < 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	if _, ok, _ := st.GetKeyed("k", at0); ok {
		t.Fatal("an expired value was not removed")
	}
	for want := uint64(1); want <= 3; want++ {
		if n, err := st.NextSeq("q"); err != nil || n != want {
			t.Fatalf("NextSeq = %d %v, want %d", n, err, want)
		}
	}
	if n, _ := st.NextSeq("other"); n != 1 {
		t.Fatalf("another sequence starts at %d", n)
	}
	// a create writes its keyed values with it
	if err := st.Create(record("a", "+391", at0), store.CreateOptions{Keyed: []store.Keyed{{Name: "idem", Value: []byte("a"), Expires: at0.Add(time.Hour)}}}); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := st.GetKeyed("idem", at0); !ok || string(v) != "a" {
		t.Fatalf("keyed value of a create: %q %v", v, ok)
	}
}

// storeHanded: a handed mark is durable until the change that records the
// outcome clears it.
func storeHanded(t *testing.T, newStore NewStore) {
	st := newStore(t)
	if err := st.Create(record("a", "+391", at0), store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkHanded("a", 0, "smsc", at0); err != nil {
		t.Fatal(err)
	}
	if m, ok, _ := st.Handed("a"); !ok || m.Message != 0 || !m.At.Equal(at0) || m.Connector != "smsc" {
		t.Fatalf("mark %+v %v", m, ok)
	}
	if _, err := st.Apply("a", func(r *store.Record) error { r.ClearHanded(); return nil }, store.ApplyOptions{Lazy: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Handed("a"); ok {
		t.Fatal("the mark outlived the outcome")
	}
}

// storePurge: a purge removes the record and everything keyed by it.
func storePurge(t *testing.T, newStore NewStore) {
	st := newStore(t)
	if err := st.Create(record("a", "+391", at0), store.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 30 { // more changes than a backend may keep apart
		if _, err := st.Apply("a", func(r *store.Record) error {
			r.Attempts = i
			if i == 0 {
				r.Messages = []store.Message{{Channel: "sms", Connector: "c1", MessageID: "m1", State: "submitted"}}
				r.AddHook(store.Hook{URL: "https://h/x", Body: []byte(`{}`), CreatedAt: at0})
			}
			return nil
		}, store.ApplyOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Purge("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get("a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("purged record read: %v", err)
	}
	if _, err := st.Hook("a", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("a purged record's outbox remains")
	}
	if _, ok, _ := st.Lookup(store.MessageIndex, "c1", "m1"); ok {
		t.Fatal("a purged record's message index remains")
	}
	if _, ok, _ := st.Lookup(store.PendingIndex, "t", "+391"); ok {
		t.Fatal("a purged record's pending index remains")
	}
	if due, _, _ := st.Due(at0.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("a purged record's deadlines remain: %+v", due)
	}
	if err := st.Purge("a"); err != nil {
		t.Fatalf("purging it again: %v", err)
	}
}
