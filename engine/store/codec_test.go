package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// fullRecord has every field set, so a field the codec forgets fails the
// round trip.
func fullRecord() *Record {
	at := time.Unix(1_700_000_000, 123456789).UTC()
	return &Record{
		ID: "v_01", Tenant: "acme", Number: "+393471234567", Country: "IT", Status: "pending",
		Workflow: []string{"sms", "voice"}, Step: 1, Attempts: 2, MaxAttempts: 5,
		CodeLength: 6, CodeType: "numeric", CodeHash: []byte{1, 2, 3}, CodeSealed: []byte{4, 5, 6, 7},
		Template: "Your {code} ✓", SenderID: "Acme", Locale: "it", CallbackURL: "https://h/x",
		NextEventWait: 30 * time.Second,
		CreatedAt:     at, ExpiresAt: at.Add(10 * time.Minute), UpdatedAt: at.Add(time.Second),
		Messages: []Message{{
			Channel: "sms", Connector: "smsc-a", MessageID: "ab12",
			Parts:  []Part{{ID: "ab12", State: "delivered"}, {ID: "ab13", State: "submitted"}},
			Failed: []string{"smsc-b"}, Skipped: []string{"smsc-c", "smsc-d"},
			State: "submitted", Tries: 3, Error: "smsc_timeout",
			QueuedAt: at, SubmittedAt: at.Add(time.Millisecond), DoneAt: at.Add(time.Minute),
		}, {Channel: "voice", State: "queued", QueuedAt: at}},
		Events: []Event{
			{At: at, Type: "created", Channel: "sms"},
			{At: at.Add(time.Millisecond), Type: "submitted", Channel: "sms", Connector: "smsc-a", MessageID: "ab12", Detail: "rule 1"},
		},
		Deadlines: []Deadline{{At: at.Add(10 * time.Minute), Kind: "expire"}, {At: at.Add(time.Second), Kind: "dispatch"}},
		HookSeq:   7, HookHead: 5,
		API: "twilio", Scope: "VAdemo", ClientRef: "order-1",
		StepWaits: []time.Duration{125 * time.Second, 180 * time.Second, 300 * time.Second},
		Seq:       4711, CustomerID: "cust-1",
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for name, r := range map[string]*Record{"full": fullRecord(), "empty": {}, "minimal": rec("a", "+1", time.Unix(5, 0).UTC())} {
		t.Run(name, func(t *testing.T) {
			b, err := encodeRecord(r)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != recordV3 {
				t.Fatalf("version byte %d, want %d", b[0], recordV3)
			}
			got, err := decodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", got, r)
			}
		})
	}
}

// Records written in version 2 (before API, Scope, ClientRef, StepWaits)
// still read, with those fields empty.
func TestRecordReadsV2(t *testing.T) {
	want := fullRecord()
	want.API, want.Scope, want.ClientRef, want.StepWaits, want.Seq, want.CustomerID = "", "", "", nil, 0, ""
	b, err := encodeRecord(want)
	if err != nil {
		t.Fatal(err)
	}
	// version 2 is version 3 without its six trailing fields (three empty
	// strings, an empty list, a zero and an empty string: six zero bytes)
	v2 := append([]byte{recordV2}, b[1:len(b)-6]...)
	got, err := decodeRecord(v2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v2 record read as\n%+v\nwant\n%+v", got, want)
	}
}

// Records written by the first releases (JSON) still read.
func TestRecordReadsV1(t *testing.T) {
	want := fullRecord()
	js, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(append([]byte{recordV1}, js...))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("v1 record read as\n%+v\nwant\n%+v", got, want)
	}
}

func TestRecordDecodeErrors(t *testing.T) {
	good, _ := encodeRecord(fullRecord())
	cases := map[string][]byte{
		"empty":            nil,
		"unknown version":  {9, 1, 2},
		"truncated":        good[:len(good)/2],
		"trailing":         append(append([]byte{}, good...), 0),
		"huge string":      {recordV2, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad v1 json":      append([]byte{recordV1}, "{"...),
		"huge list length": append(append([]byte{recordV2}, make([]byte, 5)...), 0xff, 0xff, 0x03),
	}
	for name, b := range cases {
		if _, err := decodeRecord(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// FuzzDecodeRecord: no input panics, and whatever decodes re-encodes to a
// value that decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	good, _ := encodeRecord(fullRecord())
	f.Add(good)
	empty, _ := encodeRecord(&Record{})
	f.Add(empty)
	f.Add([]byte{recordV1, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil || len(b) == 0 || b[0] < recordV2 {
			return
		}
		again, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoding changed the record")
		}
	})
}

func BenchmarkRecordCodec(b *testing.B) {
	r := fullRecord()
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeRecord(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	v, _ := encodeRecord(r)
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRecord(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	js, _ := json.Marshal(r)
	b.Run("decode-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var x Record
			if err := json.Unmarshal(js, &x); err != nil {
				b.Fatal(err)
			}
		}
	})
}
