package tts

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WAV format tags.
const (
	wavPCM        = 1
	wavALaw       = 6
	wavMuLaw      = 7
	wavExtensible = 0xFFFE
)

// wavHeaderLen is the size of WAV's header: RIFF (12), fmt (8+18), fact (8+4),
// data chunk header (8).
const wavHeaderLen = 58

// WAV wraps 8 kHz mono G.711 audio in a RIFF/WAVE file: format tag 7 for
// MuLaw (any law other than ALaw is written as MuLaw), 6 for ALaw; 1 channel,
// 8000 samples/s, 8000 bytes/s, block align 1, 8 bits per sample. As the WAVE
// specification asks for formats other than PCM, the fmt chunk is 18 bytes
// (cbSize 0) and a fact chunk gives the number of samples; the data chunk is
// padded to an even length. All sizes are little-endian.
func WAV(g711 []byte, law Law) []byte {
	tag := uint16(wavMuLaw)
	if law == ALaw {
		tag = wavALaw
	}
	n := len(g711)
	pad := n & 1
	b := make([]byte, wavHeaderLen, wavHeaderLen+n+pad)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(wavHeaderLen-8+n+pad))
	copy(b[8:], "WAVE")
	copy(b[12:], "fmt ")
	le.PutUint32(b[16:], 18)
	le.PutUint16(b[20:], tag)
	le.PutUint16(b[22:], 1)          // channels
	le.PutUint32(b[24:], SampleRate) // samples per second
	le.PutUint32(b[28:], SampleRate) // bytes per second
	le.PutUint16(b[32:], 1)          // block align
	le.PutUint16(b[34:], 8)          // bits per sample
	le.PutUint16(b[36:], 0)          // cbSize
	copy(b[38:], "fact")
	le.PutUint32(b[42:], 4)
	le.PutUint32(b[46:], uint32(n)) // samples
	copy(b[50:], "data")
	le.PutUint32(b[54:], uint32(n))
	b = append(b, g711...)
	if pad == 1 {
		b = append(b, 0)
	}
	return b
}

// readWAV decodes a RIFF/WAVE file of PCM (8- or 16-bit), µ-law or A-law
// audio, mixing channels down to mono. It returns the samples and their rate.
// A data chunk whose size runs past the end of the file (as written by a
// program streaming to a pipe) is read to the end.
func readWAV(b []byte) ([]int16, int, error) {
	le := binary.LittleEndian
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, errors.New("not a RIFF/WAVE file")
	}
	var (
		haveFmt          bool
		tag, chans, bits uint16
		rate             uint32
		data             []byte
		haveData         bool
	)
	for off := 12; off+8 <= len(b) && !haveData; {
		id, size := string(b[off:off+4]), int64(le.Uint32(b[off+4:]))
		body := b[off+8:]
		if size > int64(len(body)) {
			if id != "data" {
				return nil, 0, fmt.Errorf("WAV chunk %q runs past the end", id)
			}
			size = int64(len(body))
		}
		body = body[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, 0, errors.New("WAV fmt chunk too short")
			}
			haveFmt = true
			tag, chans = le.Uint16(body[0:]), le.Uint16(body[2:])
			rate, bits = le.Uint32(body[4:]), le.Uint16(body[14:])
			if tag == wavExtensible && size >= 26 {
				tag = le.Uint16(body[24:]) // the sub-format GUID's first two bytes
			}
		case "data":
			data, haveData = body, true
		}
		off += 8 + int(size) + int(size&1)
	}
	if !haveFmt || !haveData {
		return nil, 0, errors.New("WAV file without fmt or data chunk")
	}
	if chans == 0 || rate == 0 || rate > 384000 {
		return nil, 0, fmt.Errorf("WAV with %d channels at %d Hz", chans, rate)
	}
	var decode func([]byte) int16
	width := 1
	switch {
	case tag == wavPCM && bits == 16:
		width = 2
		decode = func(p []byte) int16 { return int16(le.Uint16(p)) }
	case tag == wavPCM && bits == 8:
		decode = func(p []byte) int16 { return int16(int(p[0])-128) << 8 }
	case tag == wavMuLaw && bits == 8:
		decode = func(p []byte) int16 { return MuLaw.decode(p[:1])[0] }
	case tag == wavALaw && bits == 8:
		decode = func(p []byte) int16 { return ALaw.decode(p[:1])[0] }
	default:
		return nil, 0, fmt.Errorf("WAV format %d with %d bits per sample is not supported", tag, bits)
	}
	frame := width * int(chans)
	pcm := make([]int16, len(data)/frame)
	for i := range pcm {
		f := data[i*frame:]
		sum := 0
		for c := 0; c < int(chans); c++ {
			sum += int(decode(f[c*width:]))
		}
		pcm[i] = int16(sum / int(chans))
	}
	return pcm, int(rate), nil
}
