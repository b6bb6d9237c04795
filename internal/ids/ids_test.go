package ids

import "testing"

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
