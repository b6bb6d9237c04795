package engine

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestGenerateCodeShape(t *testing.T) {
	for _, typ := range []string{CodeNumeric, CodeAlpha, CodeAlphanumeric} {
		abc, _ := alphabet(typ)
		for n := MinCodeLength; n <= MaxCodeLength; n++ {
			c, err := generateCode(n, typ)
			if err != nil || len(c) != n {
				t.Fatalf("generateCode(%d,%s) = %q, %v", n, typ, c, err)
			}
			for _, r := range c {
				if !strings.ContainsRune(abc, r) {
					t.Fatalf("%q has %q outside %s", c, r, typ)
				}
			}
		}
	}
	for _, bad := range []struct {
		n int
		t string
	}{{3, CodeNumeric}, {11, CodeNumeric}, {6, "hex"}} {
		if _, err := generateCode(bad.n, bad.t); err == nil {
			t.Fatalf("generateCode(%d,%q) accepted", bad.n, bad.t)
		}
	}
}

func TestAlphabetsAvoidLookAlikes(t *testing.T) {
	for _, abc := range []string{alphabetAlpha, alphabetAlphanumeric} {
		for _, r := range "IOL" {
			if strings.ContainsRune(abc, r) {
				t.Fatalf("%s contains %q", abc, r)
			}
		}
	}
	if strings.ContainsAny(alphabetAlphanumeric, "01") {
		t.Fatal("alphanumeric alphabet contains 0 or 1")
	}
}

// TestGenerateCodeUniform: a chi-squared test over many characters. With a
// modulo bias (byte % 10) the first six digits come 26/256 of the time
// instead of 25.6/256 — this sample size catches that; with 9 degrees of
// freedom the 99.99% point is 33.7.
func TestGenerateCodeUniform(t *testing.T) {
	for _, typ := range []string{CodeNumeric, CodeAlphanumeric} {
		abc, _ := alphabet(typ)
		counts := map[rune]int{}
		total := 0
		for i := 0; i < 40000; i++ {
			c, _ := generateCode(10, typ)
			for _, r := range c {
				counts[r]++
				total++
			}
		}
		exp := float64(total) / float64(len(abc))
		chi := 0.0
		for _, r := range abc {
			d := float64(counts[r]) - exp
			chi += d * d / exp
		}
		df := float64(len(abc) - 1)
		// Wilson–Hilferty approximation of the 99.99% quantile.
		z := 3.719
		crit := df * math.Pow(1-2/(9*df)+z*math.Sqrt(2/(9*df)), 3)
		if chi > crit {
			t.Fatalf("%s: chi-squared %.1f over %.1f: not uniform: %v", typ, chi, crit, counts)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	for in, want := range map[string]string{"123 456": "123456", "ab-cd": "ABCD", " 7\t8 ": "78"} {
		if got := normalizeCode(in); got != want {
			t.Errorf("normalizeCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSecrets(t *testing.T) {
	key := bytes.Repeat([]byte{7}, ServerKeyLen)
	s, err := newSecrets(key)
	if err != nil {
		t.Fatal(err)
	}
	h := s.hash("id1", "123456")
	if !s.matches("id1", "123456", h) || s.matches("id1", "123457", h) || s.matches("id2", "123456", h) {
		t.Fatal("hash does not bind id and code")
	}
	if bytes.Contains(h, []byte("123456")) {
		t.Fatal("hash contains the code")
	}
	sealed := s.seal("id1", "123456")
	if bytes.Contains(sealed, []byte("123456")) {
		t.Fatal("sealed code contains the code in clear")
	}
	if c, err := s.open("id1", sealed); err != nil || c != "123456" {
		t.Fatalf("open = %q, %v", c, err)
	}
	if _, err := s.open("id2", sealed); err == nil {
		t.Fatal("sealed code opened under another id")
	}
	other, _ := newSecrets(bytes.Repeat([]byte{8}, ServerKeyLen))
	if _, err := other.open("id1", sealed); err == nil {
		t.Fatal("sealed code opened with another key")
	}
	if _, err := newSecrets([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
