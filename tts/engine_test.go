package tts

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEngine returns a CommandEngine running testdata/fakespeak.sh for "en"
// (writing to {out}) and "it" (writing to standard output), and the file
// that counts its runs.
func fakeEngine(t *testing.T) (*CommandEngine, func() []string) {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash to run testdata/fakespeak.sh")
	}
	script, err := filepath.Abs("testdata/fakespeak.sh")
	if err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(t.TempDir(), "runs")
	e := &CommandEngine{Cmd: map[string][]string{
		"en": {"bash", script, count, "{out}", "{text}"},
		"it": {"bash", script, count, "-", "{text}"},
	}}
	runs := func() []string {
		b, err := os.ReadFile(count)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(string(b))
	}
	return e, runs
}

// checkFake checks fakespeak.sh's 50 ms of 1000s at 16 kHz came out as 50 ms
// at 8 kHz, still 1000 away from the edges.
func checkFake(t *testing.T, pcm []int16) {
	t.Helper()
	if len(pcm) != 400 {
		t.Fatalf("%d samples, want 400", len(pcm))
	}
	for i := 100; i < 300; i++ {
		if d := int(pcm[i]) - 1000; d < -3 || d > 3 {
			t.Fatalf("sample %d = %d, want 1000", i, pcm[i])
		}
	}
}

func TestCommandEngineCache(t *testing.T) {
	e, runs := fakeEngine(t)
	ctx := context.Background()
	for _, lang := range []string{"en", "it"} {
		for i := 0; i < 2; i++ {
			pcm, err := e.Speak(ctx, "Acme.", lang)
			if err != nil {
				t.Fatalf("%s: %v", lang, err)
			}
			checkFake(t, pcm)
			pcm[200] = 0 // the caller's to modify: not the cache's copy
		}
	}
	// One run per language: the second call of each was a cache hit.
	if got := runs(); len(got) != 2 {
		t.Errorf("command ran %d times (%v), want 2", len(got), got)
	}
	if _, err := e.Speak(ctx, "Acme.", "de"); err == nil || !strings.Contains(err.Error(), `"de"`) {
		t.Errorf("language without a command: error %v", err)
	}
	if _, err := e.Speak(ctx, "fail now", "en"); err == nil || !strings.Contains(err.Error(), "asked to fail") {
		t.Errorf("failing command: error %v", err)
	}
	// Errors are not cached.
	e.Speak(ctx, "fail now", "en")
	if got := runs(); len(got) != 2+2*2 {
		t.Errorf("command ran %d times, want 6", len(got))
	}
}

func TestCommandEngineSingleRun(t *testing.T) {
	e, runs := fakeEngine(t)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pcm, err := e.Speak(context.Background(), "Same", "en")
			if err != nil {
				t.Error(err)
				return
			}
			checkFake(t, pcm)
		}()
	}
	wg.Wait()
	if got := runs(); len(got) != 1 {
		t.Errorf("8 concurrent requests ran the command %d times, want 1", len(got))
	}
}

func TestCommandEngineEviction(t *testing.T) {
	e, runs := fakeEngine(t)
	e.CacheBytes = 2 * (800 + 10) // room for two entries of 400 samples
	ctx := context.Background()
	for _, text := range []string{"one", "two", "one", "three", "one", "two"} {
		if _, err := e.Speak(ctx, text, "en"); err != nil {
			t.Fatal(err)
		}
	}
	// one, two, (one hit), three evicts two, (one hit), two again.
	if got, want := strings.Join(runs(), " "), "one two three two"; got != want {
		t.Errorf("runs %q, want %q", got, want)
	}
	if e.size > e.CacheBytes || e.lru.Len() != 2 {
		t.Errorf("cache holds %d entries, %d bytes; bound %d", e.lru.Len(), e.size, e.CacheBytes)
	}

	off, runsOff := fakeEngine(t)
	off.CacheBytes = -1
	off.Speak(ctx, "x", "en")
	off.Speak(ctx, "x", "en")
	if n := len(runsOff()); n != 2 {
		t.Errorf("with the cache disabled the command ran %d times, want 2", n)
	}
}

func TestCommandEngineTimeout(t *testing.T) {
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep")
	}
	e := &CommandEngine{Cmd: map[string][]string{"en": {"sleep", "5"}}, Timeout: 100 * time.Millisecond}
	start := time.Now()
	_, err := e.Speak(context.Background(), "x", "en")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want a deadline", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestRenderWith(t *testing.T) {
	e, runs := fakeEngine(t)
	r := newRenderer(t, Options{})
	ctx := context.Background()
	lead, pause := samples(DefaultLead), samples(DefaultPause)
	for _, law := range []Law{MuLaw, ALaw} {
		plain, err := r.Render("314", "it", law)
		if err != nil {
			t.Fatal(err)
		}
		plainFR, _ := r.Render("314", "fr", law)
		got, err := r.RenderWith(ctx, e, "Acme", "314", "it-IT", law)
		if err != nil {
			t.Fatal(err)
		}
		// Lead, the brand (400 samples, trimmed of nothing), a pause, then
		// what Render says after its lead.
		if len(got) != len(plain)+400+pause {
			t.Fatalf("%v: %d samples, want %d", law, len(got), len(plain)+400+pause)
		}
		if !bytes.Equal(got[:lead], plain[:lead]) || !bytes.Equal(got[lead+400:], append(bytes.Repeat([]byte{law.silence()}, pause), plain[lead:]...)) {
			t.Errorf("%v: not lead + brand + pause + Render", law)
		}
		brand := law.decode(got[lead : lead+400])
		peak := 0.0
		for _, s := range brand {
			peak = max(peak, math.Abs(float64(s)))
		}
		if math.Abs(peak-brandPeak) > brandPeak/32 {
			t.Errorf("%v: brand peaks at %v, want about %d", law, peak, brandPeak)
		}
		if math.Abs(float64(brand[0])) > 8 { // A-law has no 0: ±8 is its least
			t.Errorf("%v: brand starts at %d, not faded in", law, brand[0])
		}

		// Fallbacks: all give exactly Render's audio.
		if got, err := r.RenderWith(ctx, e, "Acme", "314", "fr", law); err != nil || !bytes.Equal(got, plainFR) {
			t.Errorf("%v no command for fr: err %v, audio equal to Render: %v", law, err, bytes.Equal(got, plainFR))
		}
		for name, f := range map[string]func() ([]byte, error){
			"engine error":  func() ([]byte, error) { return r.RenderWith(ctx, e, "fail", "314", "it", law) },
			"nil engine":    func() ([]byte, error) { return r.RenderWith(ctx, nil, "Acme", "314", "it", law) },
			"empty brand":   func() ([]byte, error) { return r.RenderWith(ctx, e, " . ", "314", "it", law) },
			"silent engine": func() ([]byte, error) { return r.RenderWith(ctx, silentEngine{}, "Acme", "314", "it", law) },
		} {
			got, err := f()
			if err != nil || !bytes.Equal(got, plain) {
				t.Errorf("%v %s: err %v, audio equal to Render: %v", law, name, err, bytes.Equal(got, plain))
			}
		}
	}
	// The engine got the resolved language and "<brand>.".
	if got := runs(); len(got) == 0 || got[0] != "Acme." {
		t.Errorf("engine asked for %v", got)
	}
	if _, err := r.RenderWith(ctx, e, "Acme", "31I", "it", MuLaw); err == nil {
		t.Error("invalid code with an engine: no error")
	}
}

type silentEngine struct{}

func (silentEngine) Speak(context.Context, string, string) ([]int16, error) {
	return make([]int16, 800), nil
}

func TestCleanBrand(t *testing.T) {
	cases := map[string]string{
		"Acme":                   "Acme",
		"  Acme Bank.  ":         "Acme Bank",
		"A\ncme\x00":             "A cme",
		strings.Repeat("x", 100): strings.Repeat("x", MaxBrandLen),
		"Crédit Agricole...":     "Crédit Agricole",
		"":                       "",
	}
	for in, want := range cases {
		if got := cleanBrand(in); got != want {
			t.Errorf("cleanBrand(%q) = %q, want %q", in, got, want)
		}
	}
}

// tone is a sine of f Hz at rate, amplitude 10000, for n samples.
func tone(f float64, rate, n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(10000 * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return pcm
}

// rms of the middle half of pcm.
func rms(pcm []int16) float64 {
	mid := pcm[len(pcm)/4 : 3*len(pcm)/4]
	sum := 0.0
	for _, s := range mid {
		sum += float64(s) * float64(s)
	}
	return math.Sqrt(sum / float64(len(mid)))
}

func TestResample(t *testing.T) {
	full := 10000 / math.Sqrt2
	cases := []struct {
		f        float64
		rate     int
		min, max float64 // of the output's RMS over full scale
	}{
		{1000, 22050, 0.97, 1.01}, // espeak-ng's rate: passband kept
		{1000, 16000, 0.97, 1.01}, // flite's
		{2500, 48000, 0.95, 1.01},
		{1000, 8000, 0.999, 1.001}, // untouched
		{1000, 11025, 0.97, 1.01},
		{6000, 48000, 0, 0.01}, // would alias to 2 kHz: filtered out
		{5000, 22050, 0, 0.01},
		{4500, 16000, 0, 0.05},
	}
	for _, c := range cases {
		out := resample(tone(c.f, c.rate, c.rate/2), c.rate, SampleRate)
		if want := SampleRate / 2; out == nil || len(out) < want-1 || len(out) > want+1 {
			t.Errorf("%v Hz at %d: %d samples, want about %d", c.f, c.rate, len(out), want)
			continue
		}
		if g := rms(out) / full; g < c.min || g > c.max {
			t.Errorf("%v Hz at %d Hz: gain %.3f, want %.3f–%.3f", c.f, c.rate, g, c.min, c.max)
		}
	}
	// Up-sampling interpolates.
	if out := resample([]int16{0, 100, 200}, 4000, 8000); len(out) != 5 || out[1] != 50 || out[4] != 200 {
		t.Errorf("upsampled %v", out)
	}
}

// TestCommandEngineReal runs the synthesisers of the documented examples
// (flite writing a file, espeak-ng writing to standard output) when they are
// installed.
func TestCommandEngineReal(t *testing.T) {
	cmds := map[string][]string{
		"en": {"flite", "-voice", "kal16", "-t", "{text}", "-o", "{out}"},
		"it": {"espeak-ng", "-v", "it", "-s", "145", "--stdout", "--", "{text}"},
	}
	r := newRenderer(t, Options{})
	for lang, argv := range cmds {
		if _, err := exec.LookPath(argv[0]); err != nil {
			t.Logf("%s not installed: skipping %s", argv[0], lang)
			continue
		}
		e := &CommandEngine{Cmd: map[string][]string{lang: argv}}
		pcm, err := e.Speak(context.Background(), "-o Acme Bank.", lang)
		if err != nil {
			t.Fatalf("%s: %v", argv[0], err)
		}
		if d := time.Duration(len(pcm)) * time.Second / SampleRate; d < 300*time.Millisecond || d > 5*time.Second {
			t.Errorf("%s: %v of audio", argv[0], d)
		}
		if rms(pcm) < 100 {
			t.Errorf("%s: RMS %.0f: silent", argv[0], rms(pcm))
		}
		plain, _ := r.Render("12", lang, MuLaw)
		got, err := r.RenderWith(context.Background(), e, "Acme Bank", "12", lang, MuLaw)
		if err != nil || len(got) <= len(plain) {
			t.Errorf("%s: RenderWith: %d bytes (Render %d), %v", argv[0], len(got), len(plain), err)
		}
	}
}
