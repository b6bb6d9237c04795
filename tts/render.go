package tts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Option defaults.
const (
	DefaultPause = 330 * time.Millisecond
	DefaultGap   = 700 * time.Millisecond
	DefaultLead  = 300 * time.Millisecond
)

// MaxCodeLen is the longest code Render reads (the engine makes 4–10).
const MaxCodeLen = 32

// MaxBrandLen is the most characters of a brand RenderWith has spoken; a
// longer brand is cut there.
const MaxBrandLen = 64

// Options sets the timing of an announcement. Zero fields take the defaults.
type Options struct {
	// Pause is the silence between characters of the code, and after the
	// opening phrase, after "I repeat", after the brand and at the very end.
	// Default 330 ms.
	Pause time.Duration
	// Gap is the silence between the two readings of the code, and between
	// the second reading and the closing phrase. Default 700 ms.
	Gap time.Duration
	// Lead is the silence before the first word, so the start is not lost
	// while the callee's side settles after the answer. Default 300 ms.
	Lead time.Duration
}

// Renderer renders codes into announcements. It is safe for concurrent use.
type Renderer struct {
	voices map[string]*voice
	pause  int // samples
	gap    int
	lead   int
}

// New returns a Renderer with opts (zero fields take the defaults). It fails
// when an option is negative or the embedded prompts are incomplete.
func New(opts Options) (*Renderer, error) {
	vs, err := voices()
	if err != nil {
		return nil, err
	}
	if opts.Pause == 0 {
		opts.Pause = DefaultPause
	}
	if opts.Gap == 0 {
		opts.Gap = DefaultGap
	}
	if opts.Lead == 0 {
		opts.Lead = DefaultLead
	}
	if opts.Pause < 0 || opts.Gap < 0 || opts.Lead < 0 {
		return nil, fmt.Errorf("tts: negative timing in options %+v", opts)
	}
	return &Renderer{
		voices: vs,
		pause:  samples(opts.Pause),
		gap:    samples(opts.Gap),
		lead:   samples(opts.Lead),
	}, nil
}

// samples is d in samples at SampleRate, rounded to the nearest.
func samples(d time.Duration) int {
	return int((int64(d)*SampleRate + int64(time.Second)/2) / int64(time.Second))
}

// segment is one piece of an announcement: a prompt, the brand, or silence.
type segment struct {
	prompt  string // prompt name, or "" for silence or the brand
	silence int    // samples of silence, when prompt == "" and !brand
	brand   bool
}

// plan lays out the announcement for code in voice v:
//
//	Lead, [brand, Pause,] intro, Pause, c1, Pause, c2, …, cN, Gap,
//	repeat, Pause, c1, Pause, …, cN, Gap, bye, Pause
func (r *Renderer) plan(code string, brand bool) ([]segment, error) {
	chars, err := codePrompts(code)
	if err != nil {
		return nil, err
	}
	sil := func(n int) segment { return segment{silence: n} }
	p := make([]segment, 0, 4*len(chars)+12)
	p = append(p, sil(r.lead))
	if brand {
		p = append(p, segment{brand: true}, sil(r.pause))
	}
	p = append(p, segment{prompt: promptIntro}, sil(r.pause))
	reading := func() {
		for i, c := range chars {
			if i > 0 {
				p = append(p, sil(r.pause))
			}
			p = append(p, segment{prompt: c})
		}
	}
	reading()
	p = append(p, sil(r.gap), segment{prompt: promptRepeat}, sil(r.pause))
	reading()
	p = append(p, sil(r.gap), segment{prompt: promptBye}, sil(r.pause))
	return p, nil
}

// codePrompts maps each character of code to its prompt name.
func codePrompts(code string) ([]string, error) {
	if code == "" {
		return nil, errors.New("tts: empty code")
	}
	names := make([]string, 0, len(code))
	for i, c := range code {
		if len(names) == MaxCodeLen {
			return nil, fmt.Errorf("tts: code longer than %d characters", MaxCodeLen)
		}
		u := unicode.ToUpper(c)
		if !(u >= '0' && u <= '9') && !strings.ContainsRune(Alphabet, u) {
			return nil, fmt.Errorf("tts: code has %q at byte %d: not a digit or a letter of the code alphabet %s", c, i, Alphabet)
		}
		names = append(names, charPrompt(u))
	}
	return names, nil
}

// Render returns the whole announcement for code as 8 kHz G.711 audio in law:
// Lead silence, the opening phrase ("Your verification code is"), each
// character with Pause between, Gap, "I repeat", the code again, Gap, the
// closing phrase, and a final Pause (so the last word is not cut by a hang-up).
// lang is resolved by Language ("it-IT" → "it", unknown → "en"). The code may
// hold digits and letters of Alphabet (either case); any other character is an
// error naming it.
func (r *Renderer) Render(code, lang string, law Law) ([]byte, error) {
	return r.render(code, lang, law, nil)
}

func (r *Renderer) render(code, lang string, law Law, brand []byte) ([]byte, error) {
	if !law.valid() {
		return nil, fmt.Errorf("tts: unknown law %v", law)
	}
	plan, err := r.plan(code, brand != nil)
	if err != nil {
		return nil, err
	}
	enc := r.voices[Language(lang)].enc[law]
	n := 0
	for _, s := range plan {
		switch {
		case s.brand:
			n += len(brand)
		case s.prompt != "":
			n += len(enc[s.prompt])
		default:
			n += s.silence
		}
	}
	out := make([]byte, n)
	silence := law.silence()
	at := 0
	for _, s := range plan {
		switch {
		case s.brand:
			at += copy(out[at:], brand)
		case s.prompt != "":
			at += copy(out[at:], enc[s.prompt])
		default:
			fill := out[at : at+s.silence]
			for i := range fill {
				fill[i] = silence
			}
			at += s.silence
		}
	}
	return out, nil
}

// Duration is how long Render's announcement for code in lang lasts (0 when
// the code is not valid).
func (r *Renderer) Duration(code, lang string) time.Duration {
	plan, err := r.plan(code, false)
	if err != nil {
		return 0
	}
	pcm := r.voices[Language(lang)].pcm
	n := 0
	for _, s := range plan {
		if s.prompt != "" {
			n += len(pcm[s.prompt])
		} else {
			n += s.silence
		}
	}
	return time.Duration(n) * time.Second / SampleRate
}

// RenderWith is Render with "<brand>." spoken by e first (after Lead, then a
// Pause before the opening phrase), in the resolved language (so "it-IT"
// reaches e as "it"). The brand audio is trimmed of silence at both ends and
// normalised to the prompts' level; at most MaxBrandLen characters are spoken.
// With an empty brand, a nil e, or when e fails or returns no audible sound,
// it returns exactly what Render returns: the call still reads the code. Only
// an invalid code, or law, is an error.
func (r *Renderer) RenderWith(ctx context.Context, e Engine, brand, code, lang string, law Law) ([]byte, error) {
	brand = cleanBrand(brand)
	if e == nil || brand == "" {
		return r.Render(code, lang, law)
	}
	if !law.valid() {
		return nil, fmt.Errorf("tts: unknown law %v", law)
	}
	if _, err := codePrompts(code); err != nil {
		return nil, err
	}
	pcm, err := e.Speak(ctx, brand+".", Language(lang))
	if err != nil {
		return r.Render(code, lang, law)
	}
	pcm = levelBrand(pcm)
	if len(pcm) == 0 {
		return r.Render(code, lang, law)
	}
	return r.render(code, lang, law, law.encode(pcm))
}

// cleanBrand keeps a brand to one line of printable text of at most
// MaxBrandLen characters.
func cleanBrand(brand string) string {
	var b strings.Builder
	n := 0
	for _, c := range brand {
		if n == MaxBrandLen {
			break
		}
		if !unicode.IsPrint(c) {
			c = ' '
		}
		b.WriteRune(c)
		n++
	}
	return strings.TrimRight(strings.TrimSpace(b.String()), ".")
}

// Brand level: the prompts are normalised to a -3 dBFS peak; samples below
// about -55 dBFS at either end count as silence (as in make-prompts.sh).
const (
	brandPeak      = 23197 // 32767 · 10^(-3/20)
	brandThreshold = 58    // 32767 · 10^(-55/20)
	brandFade      = 40    // 5 ms fade in and out, against clicks
)

// levelBrand returns a copy of pcm trimmed of silence at both ends and scaled
// to a brandPeak peak, with a brandFade fade at both ends; nil when nothing is audible.
func levelBrand(pcm []int16) []int16 {
	abs := func(v int) int { return max(v, -v) }
	lo, hi := 0, len(pcm)
	for lo < hi && abs(int(pcm[lo])) < brandThreshold {
		lo++
	}
	for hi > lo && abs(int(pcm[hi-1])) < brandThreshold {
		hi--
	}
	if lo == hi {
		return nil
	}
	src := pcm[lo:hi]
	faded := make([]int, len(src))
	fade := min(brandFade, len(src)/2)
	peak := 0
	for i, s := range src {
		v := int(s)
		if k := min(i, len(src)-1-i); k < fade {
			v = v * k / fade
		}
		faded[i] = v
		peak = max(peak, abs(v))
	}
	if peak == 0 {
		return nil
	}
	out := make([]int16, len(src))
	for i, v := range faded {
		out[i] = int16(min(max(v*brandPeak/peak, -32768), 32767))
	}
	return out
}
