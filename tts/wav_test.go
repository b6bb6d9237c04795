package tts

import (
	"bytes"
	"testing"
)

func TestWAV(t *testing.T) {
	// hdr is the expected 58-byte header: RIFF size, format tag, samples.
	hdr := func(riff, tag, n byte) []byte {
		return []byte{
			'R', 'I', 'F', 'F', riff, 0, 0, 0, 'W', 'A', 'V', 'E',
			'f', 'm', 't', ' ', 18, 0, 0, 0,
			tag, 0, // format: 7 µ-law, 6 A-law
			1, 0, // channels
			0x40, 0x1F, 0, 0, // 8000 samples/s
			0x40, 0x1F, 0, 0, // 8000 bytes/s
			1, 0, // block align
			8, 0, // bits per sample
			0, 0, // cbSize
			'f', 'a', 'c', 't', 4, 0, 0, 0, n, 0, 0, 0,
			'd', 'a', 't', 'a', n, 0, 0, 0,
		}
	}
	cases := []struct {
		name string
		law  Law
		data []byte
		want []byte
	}{
		{"mulaw empty", MuLaw, nil, hdr(50, 7, 0)},
		{"alaw empty", ALaw, nil, hdr(50, 6, 0)},
		{"mulaw even", MuLaw, []byte{0xFF, 0x00, 0x7F, 0x80}, append(hdr(54, 7, 4), 0xFF, 0x00, 0x7F, 0x80)},
		{"alaw even", ALaw, []byte{0xD5, 0x55}, append(hdr(52, 6, 2), 0xD5, 0x55)},
		// Odd data gets a pad byte, counted in the RIFF size, not in data's.
		{"mulaw odd", MuLaw, []byte{1, 2, 3}, append(hdr(54, 7, 3), 1, 2, 3, 0)},
		{"alaw odd", ALaw, []byte{9}, append(hdr(52, 6, 1), 9, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := WAV(c.data, c.law)
			if !bytes.Equal(got, c.want) {
				t.Errorf("WAV:\n got % x\nwant % x", got, c.want)
			}
		})
	}
}

func TestWAVRoundTrip(t *testing.T) {
	r := newRenderer(t, Options{})
	for _, law := range []Law{MuLaw, ALaw} {
		audio, err := r.Render("5C", "fr", law)
		if err != nil {
			t.Fatal(err)
		}
		pcm, rate, err := readWAV(WAV(audio, law))
		if err != nil {
			t.Fatal(err)
		}
		if rate != SampleRate || len(pcm) != len(audio) {
			t.Fatalf("%v: %d samples at %d Hz, want %d at 8000", law, len(pcm), rate, len(audio))
		}
		want := law.decode(audio)
		for i := range pcm {
			if pcm[i] != want[i] {
				t.Fatalf("%v: sample %d = %d, want %d", law, i, pcm[i], want[i])
			}
		}
	}
}

func TestReadWAV(t *testing.T) {
	// 16-bit stereo PCM at 11025 Hz with an extra chunk before data.
	var b []byte
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	b = append(b, "fmt \x10\x00\x00\x00\x01\x00\x02\x00\x11\x2b\x00\x00\x44\xac\x00\x00\x04\x00\x10\x00"...)
	b = append(b, "LIST\x03\x00\x00\x00abc\x00"...) // odd size, padded
	b = append(b, "data\x08\x00\x00\x00"...)
	b = append(b, 0x10, 0x00, 0x30, 0x00, 0xF0, 0xFF, 0xD0, 0xFF) // (16,48), (-16,-48)
	pcm, rate, err := readWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if rate != 11025 || len(pcm) != 2 || pcm[0] != 32 || pcm[1] != -32 {
		t.Errorf("got %v at %d Hz, want [32 -32] at 11025", pcm, rate)
	}
	for _, bad := range [][]byte{nil, []byte("RIFF\x00\x00\x00\x00AVI "), b[:40]} {
		if _, _, err := readWAV(bad); err == nil {
			t.Errorf("readWAV(% x): no error", bad)
		}
	}
	// 32-bit float is not supported.
	f := bytes.Clone(b)
	f[20], f[34] = 3, 32
	if _, _, err := readWAV(f); err == nil {
		t.Error("float WAV: no error")
	}
}
