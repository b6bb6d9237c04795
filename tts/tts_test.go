package tts

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// -update rewrites the golden hashes in testdata from the current prompts and
// timing: after a deliberate change of either (e.g. re-running
// scripts/make-prompts.sh), run
//
//	go test ./tts/ -run Golden -update
//
// and commit the new testdata/*.sha256 with the change.
var update = flag.Bool("update", false, "rewrite the golden hashes in testdata")

func newRenderer(t testing.TB, opts Options) *Renderer {
	t.Helper()
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGolden(t *testing.T) {
	golden := []struct {
		file       string
		code, lang string
		law        Law
	}{
		{"render_en_123456_ulaw.sha256", "123456", "en", MuLaw},
	}
	r := newRenderer(t, Options{})
	for _, g := range golden {
		audio, err := r.Render(g.code, g.lang, g.law)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(audio)
		got := hex.EncodeToString(sum[:])
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (create it with: go test ./tts/ -run Golden -update)", err)
		}
		if got != strings.TrimSpace(string(want)) {
			t.Errorf("Render(%q, %q, %v): SHA-256 %s, golden %s: the prompts or the timing changed; if on purpose, regenerate with: go test ./tts/ -run Golden -update",
				g.code, g.lang, g.law, got, strings.TrimSpace(string(want)))
		}
	}
}

// filePCM reads a prompt straight from the embedded files.
func filePCM(t testing.TB, lang, name string) []int16 {
	t.Helper()
	b, err := fs.ReadFile(promptFS, "prompts/"+lang+"/"+name+".s16")
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

func TestEveryLanguageHasEveryPrompt(t *testing.T) {
	want := []string{"de", "en", "es", "fr", "it"}
	if got := Languages(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Languages() = %v, want %v", got, want)
	}
	names := promptNames()
	if len(names) != 1+10+23+2 {
		t.Fatalf("%d prompt names", len(names))
	}
	wantFiles := make([]string, len(names))
	for i, n := range names {
		wantFiles[i] = n + ".s16"
	}
	sort.Strings(wantFiles)
	total := 0
	for _, lang := range want {
		ents, err := fs.ReadDir(promptFS, "prompts/"+lang)
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, e := range ents {
			files = append(files, e.Name())
			info, _ := e.Info()
			total += int(info.Size())
		}
		if !reflect.DeepEqual(files, wantFiles) {
			t.Errorf("%s: files %v, want %v", lang, files, wantFiles)
		}
		for _, name := range names {
			pcm := filePCM(t, lang, name)
			d := time.Duration(len(pcm)) * time.Second / SampleRate
			// Characters are short words; phrases a few seconds at most.
			if d < 80*time.Millisecond || d > 3*time.Second {
				t.Errorf("%s/%s lasts %v", lang, name, d)
			}
			peak := 0
			for _, s := range pcm {
				peak = max(peak, int(math.Abs(float64(s))))
			}
			// make-prompts.sh normalises to a -3 dBFS peak (23197).
			if peak < 22000 || peak > 24000 {
				t.Errorf("%s/%s peaks at %d, want about 23197 (-3 dBFS)", lang, name, peak)
			}
		}
	}
	if total > 2<<20 {
		t.Errorf("prompts take %d bytes, more than 2 MiB", total)
	}
}

func TestSilence(t *testing.T) {
	if got := MuLaw.silence(); got != 0xFF {
		t.Errorf("µ-law silence %#x, want 0xff", got)
	}
	if got := ALaw.silence(); got != 0xD5 {
		t.Errorf("A-law silence %#x, want 0xd5", got)
	}
}

// expectedLen is the announcement's length in samples, from the prompt files
// and the layout documented on Render.
func expectedLen(t *testing.T, code, lang string, pause, gap, lead int) int {
	n := lead + len(filePCM(t, lang, "intro")) + pause
	chars := 0
	for _, c := range strings.ToUpper(code) {
		chars += len(filePCM(t, lang, charPrompt(c)))
	}
	reading := chars + (len(code)-1)*pause
	n += reading + gap + len(filePCM(t, lang, "repeat")) + pause + reading
	n += gap + len(filePCM(t, lang, "bye")) + pause
	return n
}

func TestRenderLengthAndLayout(t *testing.T) {
	cases := []struct {
		opts             Options
		pause, gap, lead int // samples
	}{
		{Options{}, 2640, 5600, 2400},
		{Options{Pause: 250 * time.Millisecond, Gap: time.Second, Lead: 125 * time.Microsecond}, 2000, 8000, 1},
	}
	for _, c := range cases {
		r := newRenderer(t, c.opts)
		for _, lang := range Languages() {
			for _, code := range []string{"7", "123456", "ABCDEFGHJKMNPQRSTUVWXYZ", "9x2W0q"} {
				for _, law := range []Law{MuLaw, ALaw} {
					audio, err := r.Render(code, lang, law)
					if err != nil {
						t.Fatal(err)
					}
					want := expectedLen(t, code, lang, c.pause, c.gap, c.lead)
					if len(audio) != want {
						t.Errorf("%+v %s %q %v: %d samples, want %d", c.opts, lang, code, law, len(audio), want)
					}
					if d, want := r.Duration(code, lang), time.Duration(len(audio))*time.Second/SampleRate; d != want {
						t.Errorf("Duration(%q, %q) = %v, want %v", code, lang, d, want)
					}
					// Lead silence, then the intro exactly, then a pause.
					sil := law.silence()
					for i, b := range audio[:c.lead] {
						if b != sil {
							t.Fatalf("lead byte %d = %#x, want silence %#x", i, b, sil)
						}
					}
					intro := law.encode(filePCM(t, lang, "intro"))
					if !bytes.Equal(audio[c.lead:c.lead+len(intro)], intro) {
						t.Errorf("%s %v: intro not right after the lead", lang, law)
					}
					if tail := audio[len(audio)-c.pause:]; bytes.Count(tail, []byte{sil}) != c.pause {
						t.Errorf("%s %v: does not end in a pause of silence", lang, law)
					}
				}
			}
		}
	}
}

func TestLawsDecodeAlike(t *testing.T) {
	r := newRenderer(t, Options{})
	for _, lang := range Languages() {
		mu, err := r.Render("A1B2C3", lang, MuLaw)
		if err != nil {
			t.Fatal(err)
		}
		a, err := r.Render("A1B2C3", lang, ALaw)
		if err != nil {
			t.Fatal(err)
		}
		if len(mu) != len(a) {
			t.Fatalf("%s: µ-law %d samples, A-law %d", lang, len(mu), len(a))
		}
		pm, pa := MuLaw.decode(mu), ALaw.decode(a)
		var sig, noise float64
		for i := range pm {
			x, y := float64(pm[i]), float64(pa[i])
			// Both quantise to within 1/32 of the value plus a small floor;
			// so they differ by at most about 1/16 of it plus twice the floor.
			if tol := math.Abs(x)/16 + 32; math.Abs(x-y) > tol {
				t.Fatalf("%s: sample %d: µ-law %v, A-law %v", lang, i, x, y)
			}
			sig += x * x
			noise += (x - y) * (x - y)
		}
		if snr := 10 * math.Log10(sig/noise); snr < 30 {
			t.Errorf("%s: µ-law vs A-law SNR %.1f dB, want ≥ 30", lang, snr)
		}
	}
}

func TestCodeCharacters(t *testing.T) {
	r := newRenderer(t, Options{})
	bad := []struct{ code, mention string }{
		{"12I456", `'I'`},
		{"12l456", `'l'`},
		{"O12345", `'O'`},
		{"123 456", `' '`},
		{"123-456", `'-'`},
		{"12é4", `'é'`},
		{"", "empty"},
		{strings.Repeat("1", MaxCodeLen+1), "longer"},
	}
	for _, b := range bad {
		_, err := r.Render(b.code, "en", MuLaw)
		if err == nil || !strings.Contains(err.Error(), b.mention) {
			t.Errorf("Render(%q): error %v, want one naming %s", b.code, err, b.mention)
		}
		if d := r.Duration(b.code, "en"); d != 0 {
			t.Errorf("Duration(%q) = %v, want 0", b.code, d)
		}
	}
	if _, err := r.Render(strings.Repeat("9", MaxCodeLen), "en", MuLaw); err != nil {
		t.Error(err)
	}
	lower, err := r.Render("ab12", "en", ALaw)
	if err != nil {
		t.Fatal(err)
	}
	upper, _ := r.Render("AB12", "en", ALaw)
	if !bytes.Equal(lower, upper) {
		t.Error("lower-case code renders differently from upper-case")
	}
	if _, err := r.Render("123", "en", Law(2)); err == nil {
		t.Error("Render with Law(2): no error")
	}
}

func TestLanguageFallback(t *testing.T) {
	cases := map[string]string{
		"it": "it", "it-IT": "it", "IT": "it", "it_CH.UTF-8": "it",
		"fr-CA": "fr", "de-AT": "de", "es-419": "es", "en-GB": "en",
		"": "en", "pt-BR": "en", "xx": "en", "zh-Hant-TW": "en", "  de  ": "de",
	}
	r := newRenderer(t, Options{})
	for tag, want := range cases {
		if got := Language(tag); got != want {
			t.Errorf("Language(%q) = %q, want %q", tag, got, want)
		}
		got, err := r.Render("42", tag, MuLaw)
		if err != nil {
			t.Fatal(err)
		}
		exp, _ := r.Render("42", want, MuLaw)
		if !bytes.Equal(got, exp) {
			t.Errorf("Render in %q is not Render in %q", tag, want)
		}
	}
	// The languages really differ.
	en, _ := r.Render("42", "en", MuLaw)
	it, _ := r.Render("42", "it", MuLaw)
	if bytes.Equal(en, it) {
		t.Error("English and Italian render the same")
	}
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{{Pause: -1}, {Gap: -time.Second}, {Lead: -time.Millisecond}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
	def := newRenderer(t, Options{})
	longer := newRenderer(t, Options{Pause: DefaultPause + 100*time.Millisecond})
	// "12345": 4 pauses in each reading, and after intro, repeat and bye.
	if d := longer.Duration("12345", "en") - def.Duration("12345", "en"); d != 11*100*time.Millisecond {
		t.Errorf("100 ms more pause lengthens by %v, want 1.1s", d)
	}
}

func TestRenderConcurrent(t *testing.T) {
	r := newRenderer(t, Options{})
	want, _ := r.Render("9K4Z", "de", ALaw)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				got, err := r.Render("9K4Z", "de-DE", ALaw)
				if err != nil || !bytes.Equal(got, want) {
					t.Error("concurrent Render differs")
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkRender(b *testing.B) {
	r := newRenderer(b, Options{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render("48213957", "it", MuLaw); err != nil {
			b.Fatal(err)
		}
	}
}
