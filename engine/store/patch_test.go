package store

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// sample is a record with every field set.
func sample() *Record {
	at := time.Unix(1_800_000_000, 0).UTC()
	return &Record{ID: "r1", Tenant: "t", Number: "+393471234567", Country: "IT", Status: "pending",
		Workflow: []string{"sms", "voice"}, Step: 0, Attempts: 1, MaxAttempts: 5, CodeLength: 6, CodeType: "numeric",
		CodeHash: []byte("hash"), CodeSealed: []byte("sealed"), Template: "CODE {code}", SenderID: "Acme", Locale: "it",
		CallbackURL: "https://h/x", NextEventWait: time.Minute, CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute), UpdatedAt: at,
		Messages: []Message{{Channel: "sms", Connector: "c1", MessageID: "m1", Parts: []Part{{ID: "m1", State: "submitted"}},
			Failed: []string{"c0"}, Skipped: []string{"c2"}, State: "submitted", Tries: 1, Error: "e", QueuedAt: at,
			SubmittedAt: at.Add(time.Second), DoneAt: at.Add(2 * time.Second)}},
		Events:    []Event{{At: at, Type: "created", Channel: "sms", Connector: "c1", MessageID: "m1", Detail: "d"}},
		Deadlines: []Deadline{{At: at.Add(10 * time.Minute), Kind: "expire"}},
		HookSeq:   2, HookHead: 1, API: "twilio", Scope: "VA1", ClientRef: "ref", StepWaits: []time.Duration{time.Minute, 2 * time.Minute},
		Seq: 7, CustomerID: "cust"}
}

// roundTrip applies diff(old, rec) to a copy of old and says how it
// differs from rec ("" when equal).
func roundTrip(t *testing.T, old, rec *Record) string {
	t.Helper()
	p, err := diff(old, rec)
	if err != nil {
		t.Fatal(err)
	}
	got := old.clone()
	if p != nil {
		if err := applyPatch(got, p); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	// compare as encoded: the codec's form is the stored truth
	a, _ := encodeRecord(got)
	b, _ := encodeRecord(rec)
	if string(a) != string(b) {
		return fmt.Sprintf("patch %x\n got  %+v\n want %+v", p, got, rec)
	}
	return ""
}

// TestPatchCoversEveryField changes each field of Record, one at a time
// and found by reflection (so a field added later is covered without
// being named here), and checks that the patch reproduces the change.
func TestPatchCoversEveryField(t *testing.T) {
	rt := reflect.TypeOf(Record{})
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		old := sample()
		rec := old.clone()
		v := reflect.ValueOf(rec).Elem().Field(i)
		if !change(v) {
			t.Fatalf("field %s of kind %s: the test does not know how to change it", f.Name, v.Kind())
		}
		if why := roundTrip(t, old, rec); why != "" {
			t.Errorf("field %s: %s", f.Name, why)
		}
	}
	// and a change of nothing is no patch at all
	if p, _ := diff(sample(), sample()); p != nil {
		t.Errorf("no change gave the patch %x", p)
	}
}

// change sets v to a value other than its own.
func change(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeOf(time.Duration(0)) {
			v.SetInt(v.Int() + int64(time.Second))
		} else {
			v.SetInt(v.Int() + 1)
		}
	case reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Slice:
		if v.Len() == 0 {
			return false
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes(append(v.Bytes(), 'x'))
			return true
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		v.Set(c)
		return change(v.Index(0))
	case reflect.Struct:
		if t, ok := v.Interface().(time.Time); ok {
			v.Set(reflect.ValueOf(t.Add(time.Second)))
			return true
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && change(v.Field(i)) {
				return true
			}
		}
		return false
	default:
		return false
	}
	return true
}

// TestPatchRandomChanges: many random changes of the kinds the engine
// makes (messages added and moved on, events appended, deadlines
// replaced, the status and counters changed), each a patch on the last,
// read back as base plus patches equal to the record.
func TestPatchRandomChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		base := sample()
		cur := base.clone()
		var patches [][]byte
		for range 1 + rng.IntN(30) {
			next := cur.clone()
			mutate(rng, next)
			p, err := diff(cur, next)
			if err != nil {
				t.Fatal(err)
			}
			if p != nil {
				patches = append(patches, p)
			}
			cur = next
		}
		got := base.clone()
		for _, p := range patches {
			if err := applyPatch(got, p); err != nil {
				t.Fatalf("trial %d: %v", trial, err)
			}
		}
		a, _ := encodeRecord(got)
		b, _ := encodeRecord(cur)
		if string(a) != string(b) {
			t.Fatalf("trial %d: got %+v\nwant %+v", trial, got, cur)
		}
	}
}

func mutate(rng *rand.Rand, r *Record) {
	at := r.UpdatedAt.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
	switch rng.IntN(9) {
	case 0:
		r.Status = []string{"pending", "verified", "failed", "expired"}[rng.IntN(4)]
	case 1:
		r.Attempts++
	case 2:
		r.Messages = append(r.Messages, Message{Channel: "voice", State: "queued", QueuedAt: at})
	case 3:
		if n := len(r.Messages); n > 0 {
			m := &r.Messages[rng.IntN(n)]
			m.State, m.Tries, m.Connector = "submitted", m.Tries+1, fmt.Sprint("c", rng.IntN(3))
			m.Parts = append(m.Parts, Part{ID: fmt.Sprint("p", rng.IntN(100)), State: "submitted"})
		}
	case 4:
		r.Events = append(r.Events, Event{At: at, Type: "x", Detail: fmt.Sprint(rng.IntN(100))})
	case 5:
		r.Deadlines = append(r.Deadlines[:0:0], Deadline{At: at.Add(time.Minute), Kind: "expire"})
	case 6:
		r.CodeSealed = nil
	case 7:
		r.HookSeq++
	case 8:
		r.Locale = fmt.Sprint("l", rng.IntN(5)) // a field without an op: the whole record
	}
	r.UpdatedAt = at
}

func BenchmarkPatch(b *testing.B) {
	old := sample()
	rec := old.clone()
	rec.Messages[0].State = "delivered"
	rec.Events = append(rec.Events, Event{At: rec.UpdatedAt, Type: "delivered", Channel: "sms", Connector: "c1", MessageID: "m1"})
	rec.UpdatedAt = rec.UpdatedAt.Add(time.Second)
	p, _ := diff(old, rec)
	full, _ := encodeRecord(rec)
	b.ReportMetric(float64(len(p)), "patch-bytes")
	b.ReportMetric(float64(len(full)), "record-bytes")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := diff(old, rec); err != nil {
			b.Fatal(err)
		}
	}
}
