package tts

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Engine speaks text that the prompts do not hold (a brand name) at run time.
type Engine interface {
	// Speak returns text spoken in lang (a language of Languages) as 8 kHz
	// mono linear PCM. The caller may modify the returned slice.
	Speak(ctx context.Context, text, lang string) ([]int16, error)
}

// CommandEngine defaults.
const (
	DefaultCacheBytes = 4 << 20
	DefaultTimeout    = 10 * time.Second
	// maxWAV bounds what is read back from a command: about 3 minutes of
	// 48 kHz 16-bit stereo.
	maxWAV = 32 << 20
)

// CommandEngine is an Engine that runs an external speech synthesiser (such
// as flite or espeak-ng) per language and reads the WAV file it writes. The
// audio is mixed to mono and, if its rate is not 8 kHz, resampled with a
// windowed-sinc low-pass (cut-off 3.5 kHz) and linear interpolation. Results
// are cached per (language, text) in a least-recently-used cache bounded by
// bytes, and concurrent requests for the same text run the command once.
//
// Set the fields before first use and do not copy a CommandEngine after it;
// its methods are safe for concurrent use.
type CommandEngine struct {
	// Cmd maps a language (as resolved by Language: "en", "it", …) to the
	// command to run: argv[0] is looked up in PATH; in every argument
	// "{text}" is replaced by the text and "{out}" by the path of a WAV file
	// the command must write, in a fresh temporary directory. With no
	// "{out}" anywhere, the WAV is read from the command's standard output.
	// The text is one argument, never seen by a shell; keep it the value of
	// an option (flite -t {text}) or after "--" so that text starting with
	// "-" is not taken for an option. For example:
	//
	//	"en": {"flite", "-voice", "kal16", "-t", "{text}", "-o", "{out}"}
	//	"it": {"espeak-ng", "-v", "it", "-s", "145", "-w", "{out}", "--", "{text}"}
	//
	// A language without an entry is an error (RenderWith then leaves the
	// brand out).
	Cmd map[string][]string
	// CacheBytes bounds the cache (2 bytes a sample, plus the key); 0 means
	// DefaultCacheBytes, negative disables the cache.
	CacheBytes int
	// Timeout bounds one run of the command; 0 means DefaultTimeout.
	Timeout time.Duration

	mu       sync.Mutex
	lru      *list.List               // of *cacheEntry, most recent first
	byKey    map[string]*list.Element // into lru
	size     int                      // bytes in lru
	inflight map[string]*flight
}

type cacheEntry struct {
	key string
	pcm []int16
}

func (c *cacheEntry) bytes() int { return len(c.key) + 2*len(c.pcm) }

// flight is one command run that others with the same key wait for.
type flight struct {
	done chan struct{}
	pcm  []int16
	err  error
}

// Speak implements Engine.
func (e *CommandEngine) Speak(ctx context.Context, text, lang string) ([]int16, error) {
	argv := e.Cmd[lang]
	if len(argv) == 0 {
		return nil, fmt.Errorf("tts: no speech command for language %q", lang)
	}
	key := lang + "\x00" + text

	e.mu.Lock()
	if pcm, ok := e.get(key); ok {
		e.mu.Unlock()
		return clone(pcm), nil
	}
	if f, ok := e.inflight[key]; ok {
		e.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
		return clone(f.pcm), nil
	}
	f := &flight{done: make(chan struct{})}
	if e.inflight == nil {
		e.inflight = make(map[string]*flight)
	}
	e.inflight[key] = f
	e.mu.Unlock()

	f.pcm, f.err = e.run(ctx, argv, text)

	e.mu.Lock()
	delete(e.inflight, key)
	if f.err == nil {
		e.put(key, f.pcm)
	}
	e.mu.Unlock()
	close(f.done)
	if f.err != nil {
		return nil, f.err
	}
	return clone(f.pcm), nil
}

func clone(pcm []int16) []int16 { return append([]int16(nil), pcm...) }

// get returns the cached audio for key and marks it used. e.mu is held.
func (e *CommandEngine) get(key string) ([]int16, bool) {
	el, ok := e.byKey[key]
	if !ok {
		return nil, false
	}
	e.lru.MoveToFront(el)
	return el.Value.(*cacheEntry).pcm, true
}

// put caches pcm under key, evicting the least recently used entries to stay
// within the bound. e.mu is held.
func (e *CommandEngine) put(key string, pcm []int16) {
	limit := e.CacheBytes
	if limit == 0 {
		limit = DefaultCacheBytes
	}
	ent := &cacheEntry{key: key, pcm: pcm}
	if limit < 0 || ent.bytes() > limit {
		return
	}
	if e.lru == nil {
		e.lru, e.byKey = list.New(), make(map[string]*list.Element)
	}
	if el, ok := e.byKey[key]; ok {
		e.size -= el.Value.(*cacheEntry).bytes()
		e.lru.Remove(el)
		delete(e.byKey, key)
	}
	for e.size+ent.bytes() > limit {
		last := e.lru.Back()
		old := last.Value.(*cacheEntry)
		e.lru.Remove(last)
		delete(e.byKey, old.key)
		e.size -= old.bytes()
	}
	e.byKey[key] = e.lru.PushFront(ent)
	e.size += ent.bytes()
}

// run runs the command once and returns its audio at SampleRate.
func (e *CommandEngine) run(ctx context.Context, argv []string, text string) ([]int16, error) {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	dir, err := os.MkdirTemp("", "otpgate-tts-")
	if err != nil {
		return nil, fmt.Errorf("tts: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out.wav")

	args := make([]string, len(argv))
	toFile := false
	for i, a := range argv {
		if strings.Contains(a, "{out}") {
			toFile = true
		}
		args[i] = strings.NewReplacer("{text}", text, "{out}", out).Replace(a)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	cmd.WaitDelay = time.Second
	stderr := &capped{max: 1024}
	cmd.Stderr = stderr
	if toFile {
		cmd.Stdout = io.Discard
	} else {
		cmd.Stdout = &capped{max: maxWAV}
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tts: %s: %w", args[0], ctx.Err())
		}
		return nil, fmt.Errorf("tts: %s: %w: %s", args[0], err, strings.TrimSpace(stderr.buf.String()))
	}
	var wav []byte
	if toFile {
		st, err := os.Stat(out)
		if err != nil {
			return nil, fmt.Errorf("tts: %s wrote no audio: %w", args[0], err)
		}
		if st.Size() > maxWAV {
			return nil, fmt.Errorf("tts: %s wrote %d bytes of audio, more than %d", args[0], st.Size(), maxWAV)
		}
		if wav, err = os.ReadFile(out); err != nil {
			return nil, fmt.Errorf("tts: %w", err)
		}
	} else {
		c := cmd.Stdout.(*capped)
		if c.over {
			return nil, fmt.Errorf("tts: %s wrote more than %d bytes of audio", args[0], maxWAV)
		}
		wav = c.buf.Bytes()
	}
	pcm, rate, err := readWAV(wav)
	if err != nil {
		return nil, fmt.Errorf("tts: %s: %w", args[0], err)
	}
	return resample(pcm, rate, SampleRate), nil
}

// capped is a writer that keeps at most max bytes and notes whether more came.
type capped struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// resampleCutoff is the low-pass cut-off applied before decimating, in Hz:
// below the 4 kHz Nyquist frequency of 8 kHz audio, above the 3.4 kHz
// telephone band.
const resampleCutoff = 3500

// resample converts pcm from rate from to rate to. Going down it low-pass
// filters against aliasing (a Blackman-windowed sinc, cut-off resampleCutoff,
// 48 taps per unit of the rate ratio on each side, evaluated only where
// needed); the samples at the new rate come by linear interpolation.
func resample(pcm []int16, from, to int) []int16 {
	if from == to || len(pcm) == 0 {
		return pcm
	}
	at := func(i int) float64 { return float64(pcm[i]) }
	if from > to {
		m := 48 * int(math.Ceil(float64(from)/float64(to)))
		h := lowpass(float64(min(resampleCutoff, to/2))/float64(from), m)
		at = func(i int) float64 {
			acc := 0.0
			lo, hi := max(0, i-m), min(len(pcm)-1, i+m)
			for j := lo; j <= hi; j++ {
				acc += float64(pcm[j]) * h[j-i+m]
			}
			return acc
		}
	}
	step := float64(from) / float64(to)
	n := int(float64(len(pcm)-1)/step) + 1
	out := make([]int16, n)
	for i := range out {
		t := float64(i) * step
		k := int(t)
		v := at(k)
		if frac := t - float64(k); frac > 0 && k+1 < len(pcm) {
			v += (at(k+1) - v) * frac
		}
		out[i] = int16(math.Max(-32768, math.Min(32767, math.Round(v))))
	}
	return out
}

// lowpass returns the 2m+1 taps of a Blackman-windowed sinc low-pass filter
// with cut-off fc (cycles per sample), scaled to unity gain at DC.
func lowpass(fc float64, m int) []float64 {
	h := make([]float64, 2*m+1)
	sum := 0.0
	for k := range h {
		t := float64(k - m)
		v := 2 * fc
		if t != 0 {
			v = math.Sin(2*math.Pi*fc*t) / (math.Pi * t)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(k)/float64(2*m)) + 0.08*math.Cos(4*math.Pi*float64(k)/float64(2*m))
		h[k] = v * w
		sum += h[k]
	}
	for k := range h {
		h[k] /= sum
	}
	return h
}
