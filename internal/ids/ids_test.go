package ids

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New()
		if !Valid(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "abc", "0123456789abcdefghjkmnpqrI", "0123456789abcdefghjkmnpqrs0"} {
		if Valid(bad) {
			t.Fatalf("Valid(%q) = true", bad)
		}
	}
}

// TestVendorForms: every vendor form of an id reads back to the same id,
// and malformed forms are refused.
func TestVendorForms(t *testing.T) {
	for i := 0; i < 1000; i++ {
		id := New()
		if back, ok := FromHex(Hex(id)); !ok || back != id {
			t.Fatalf("hex %s → %s", id, back)
		}
		if back, ok := FromUUID(UUID(id)); !ok || back != id {
			t.Fatalf("uuid %s → %s", id, back)
		}
		if back, ok := FromHex(strings.ToUpper(Hex(id))); !ok || back != id {
			t.Fatalf("upper-case hex %s", id)
		}
	}
	for _, bad := range []string{"", "zz", strings.Repeat("g", 32), strings.Repeat("0", 31)} {
		if _, ok := FromHex(bad); ok {
			t.Errorf("FromHex(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123-456789abcdeX", "0123456789-ab-cdef-0123-456789abcdef"} {
		if _, ok := FromUUID(bad); ok {
			t.Errorf("FromUUID(%q) accepted", bad)
		}
	}
	// a non-canonical spelling of the same bits (the last character's two
	// unused low bits set) is not an id
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	id := New()
	v := strings.IndexByte(alphabet, id[len(id)-1])
	alt := id[:len(id)-1] + string(alphabet[v|1])
	if _, ok := Bytes(alt); ok {
		t.Errorf("non-canonical %s (of %s) accepted", alt, id)
	}
}
