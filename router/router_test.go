package router

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestRouteData reads testdata/prefix.txt: rules first, then route cases.
func TestRouteData(t *testing.T) {
	f, err := os.Open("testdata/prefix.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []Rule
	def := ""
	var r *Router
	sc := bufio.NewScanner(f)
	cases := 0
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "default":
			def = fields[1]
		case "rule":
			rules = append(rules, Rule{Prefix: fields[1], Connector: fields[2]})
		case "route":
			if r == nil {
				if r, err = New(rules, def, nil); err != nil {
					t.Fatalf("line %d: %v", line, err)
				}
			}
			d, ok := r.Route(fields[1])
			got := fmt.Sprintf("%s %s", d.Connector, d.Rule)
			want := strings.Join(fields[3:], " ")
			if !ok || got != want {
				t.Errorf("line %d: Route(%s) = %q (ok=%v), want %q", line, fields[1], got, ok, want)
			}
			cases++
		default:
			t.Fatalf("line %d: unknown directive %q", line, fields[0])
		}
	}
	if cases == 0 {
		t.Fatal("no cases read")
	}
}

func TestNewErrors(t *testing.T) {
	known := func(s string) bool { return s == "a" }
	for _, c := range []struct {
		rules []Rule
		def   string
		want  string
	}{
		{[]Rule{{"39", "a"}}, "", `"39"`},
		{[]Rule{{"+3x", "a"}}, "", `'x' is not a digit`},
		{[]Rule{{"+39", "b"}}, "", `connector "b" is not defined`},
		{[]Rule{{"+39", "a"}, {"+39", "a"}}, "", "listed twice"},
		{nil, "zz", `routes.default: connector "zz"`},
	} {
		_, err := New(c.rules, c.def, known)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%v, %q) = %v, want error containing %q", c.rules, c.def, err, c.want)
		}
	}
	r, _ := New(nil, "", nil)
	if _, ok := r.Route("+39"); ok {
		t.Error("no rules and no default must not route")
	}
}

func BenchmarkRoute10k(b *testing.B) {
	var rules []Rule
	for i := 0; i < 10000; i++ {
		rules = append(rules, Rule{Prefix: fmt.Sprintf("+%d", 100000+i*7), Connector: "c"})
	}
	r, err := New(rules, "d", nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if d, _ := r.Route("+1000491234567"); d.Connector == "" {
			b.Fatal("no route")
		}
	}
}
