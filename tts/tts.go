// Package tts turns a verification code into telephone audio: 8 kHz mono G.711
// (µ-law or A-law) that reads the code aloud, per language.
//
// It owns:
//   - the recorded prompts, embedded in the binary from prompts/<lang>/<name>.s16
//     (made by scripts/make-prompts.sh; raw signed 16-bit little-endian PCM,
//     8000 Hz, mono): an opening phrase, the digits, the letters of the code
//     alphabet, "I repeat" and a closing phrase, for English, Italian, French,
//     German and Spanish;
//   - the layout and timing of the announcement (Renderer, Options);
//   - G.711 encoding of it and WAV wrapping of G.711 audio (WAV);
//   - an optional runtime speech engine for words that are not in the prompts,
//     such as a brand name (Engine, CommandEngine), with a bounded cache.
//
// It imports nothing of ours; the sip connector and its simulator import it.
package tts

import (
	"embed"
	"encoding/binary"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/zaf/g711"
)

// SampleRate is the rate of all audio in and out of this package, in Hz.
const SampleRate = 8000

// Alphabet is the letters a code may contain besides the digits 0–9 (the
// engine's code alphabets: A–Z without I, L and O). Render accepts them in
// either case.
const Alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ"

// DefaultLanguage is what an unknown or empty language falls back to.
const DefaultLanguage = "en"

// Law is a G.711 companding law.
type Law int

const (
	// MuLaw is G.711 µ-law (PCMU, RTP payload type 0, WAV format 7).
	MuLaw Law = iota
	// ALaw is G.711 A-law (PCMA, RTP payload type 8, WAV format 6).
	ALaw
)

func (l Law) String() string {
	switch l {
	case MuLaw:
		return "PCMU"
	case ALaw:
		return "PCMA"
	}
	return fmt.Sprintf("Law(%d)", int(l))
}

func (l Law) valid() bool { return l == MuLaw || l == ALaw }

// encode1 encodes one linear sample.
func (l Law) encode1(s int16) byte {
	if l == ALaw {
		return g711.EncodeAlawFrame(s)
	}
	return g711.EncodeUlawFrame(s)
}

// silence is the code of a zero sample: 0xFF in µ-law, 0xD5 in A-law.
func (l Law) silence() byte { return l.encode1(0) }

func (l Law) encode(pcm []int16) []byte {
	out := make([]byte, len(pcm))
	for i, s := range pcm {
		out[i] = l.encode1(s)
	}
	return out
}

func (l Law) decode(b []byte) []int16 {
	out := make([]int16, len(b))
	for i, c := range b {
		if l == ALaw {
			out[i] = g711.DecodeAlawFrame(c)
		} else {
			out[i] = g711.DecodeUlawFrame(c)
		}
	}
	return out
}

//go:embed prompts
var promptFS embed.FS

// Prompt names, as in prompts/<lang>/<name>.s16.
const (
	promptIntro  = "intro"
	promptRepeat = "repeat"
	promptBye    = "bye"
	promptExt    = ".s16"
)

// promptNames is every prompt each language must have.
func promptNames() []string {
	names := []string{promptIntro}
	for d := '0'; d <= '9'; d++ {
		names = append(names, charPrompt(d))
	}
	for _, c := range Alphabet {
		names = append(names, charPrompt(c))
	}
	return append(names, promptRepeat, promptBye)
}

// charPrompt is the prompt name of a valid code character (digit or upper-case
// letter of Alphabet): d0..d9, l_a..l_z.
func charPrompt(c rune) string {
	if c >= '0' && c <= '9' {
		return "d" + string(c)
	}
	return "l_" + strings.ToLower(string(c))
}

// voice is one language's prompts, linear and pre-encoded in both laws.
type voice struct {
	pcm map[string][]int16
	enc [2]map[string][]byte // by Law
}

// voices loads and checks the embedded prompts once.
var voices = sync.OnceValues(func() (map[string]*voice, error) {
	return loadVoices(promptFS, "prompts")
})

func loadVoices(fsys fs.FS, dir string) (map[string]*voice, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("tts: prompts: %w", err)
	}
	names := promptNames()
	vs := make(map[string]*voice)
	for _, ent := range entries {
		if !ent.IsDir() {
			continue
		}
		lang := ent.Name()
		v := &voice{pcm: make(map[string][]int16, len(names))}
		for _, name := range names {
			b, err := fs.ReadFile(fsys, path.Join(dir, lang, name+promptExt))
			if err != nil {
				return nil, fmt.Errorf("tts: prompts: language %q: %w", lang, err)
			}
			if len(b) == 0 || len(b)%2 != 0 {
				return nil, fmt.Errorf("tts: prompts: %s/%s%s: %d bytes is not 16-bit PCM audio", lang, name, promptExt, len(b))
			}
			pcm := make([]int16, len(b)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			v.pcm[name] = pcm
		}
		for _, law := range []Law{MuLaw, ALaw} {
			enc := make(map[string][]byte, len(names))
			for name, pcm := range v.pcm {
				enc[name] = law.encode(pcm)
			}
			v.enc[law] = enc
		}
		vs[lang] = v
	}
	if vs[DefaultLanguage] == nil {
		return nil, fmt.Errorf("tts: prompts: no prompts for the default language %q", DefaultLanguage)
	}
	return vs, nil
}

// Languages returns the languages with prompts, sorted ("de", "en", "es",
// "fr", "it").
func Languages() []string {
	vs, err := voices()
	if err != nil {
		return nil
	}
	langs := make([]string, 0, len(vs))
	for l := range vs {
		langs = append(langs, l)
	}
	sort.Strings(langs)
	return langs
}

// Language resolves a language tag or locale to one with prompts: the primary
// subtag, case-insensitively ("it-IT", "it_IT.UTF-8", "IT" → "it"); anything
// unknown or empty → DefaultLanguage.
func Language(tag string) string {
	vs, err := voices()
	if err != nil {
		return DefaultLanguage
	}
	primary := strings.ToLower(strings.TrimSpace(tag))
	if i := strings.IndexAny(primary, "-_.@"); i >= 0 {
		primary = primary[:i]
	}
	if _, ok := vs[primary]; ok {
		return primary
	}
	return DefaultLanguage
}
