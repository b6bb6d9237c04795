// Package sdp writes and reads the few lines of SDP (RFC 4566) a G.711 voice
// call needs: one audio stream, its address, port and payload types.
package sdp

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Payload types of the static RTP/AVP profile (RFC 3551) used here.
const (
	PCMU = 0
	PCMA = 8
)

// CodecName is the encoding name of a static payload type: "PCMU", "PCMA"
// or "" for others.
func CodecName(pt int) string {
	switch pt {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return ""
}

// Session is the audio part of an SDP body.
type Session struct {
	Addr    netip.Addr // connection address (c=)
	Port    int        // audio port (m=audio)
	Formats []int      // payload types in the m= line, in order of preference
	// Direction is sendrecv, sendonly, recvonly or inactive ("" when unsaid).
	Direction string
}

// Write renders s as an SDP body with the given origin user and session id.
// Only PCMU and PCMA get rtpmap lines; ptime is 20 ms.
func Write(user string, id uint64, s Session) []byte {
	ipv := "IP4"
	if s.Addr.Is6() && !s.Addr.Is4In6() {
		ipv = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\n")
	fmt.Fprintf(&b, "o=%s %d %d IN %s %s\r\n", user, id, id, ipv, s.Addr.Unmap())
	fmt.Fprintf(&b, "s=%s\r\n", user)
	fmt.Fprintf(&b, "c=IN %s %s\r\n", ipv, s.Addr.Unmap())
	fmt.Fprintf(&b, "t=0 0\r\n")
	fmt.Fprintf(&b, "m=audio %d RTP/AVP", s.Port)
	for _, f := range s.Formats {
		fmt.Fprintf(&b, " %d", f)
	}
	b.WriteString("\r\n")
	for _, f := range s.Formats {
		if n := CodecName(f); n != "" {
			fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", f, n)
		}
	}
	b.WriteString("a=ptime:20\r\n")
	dir := s.Direction
	if dir == "" {
		dir = "sendrecv"
	}
	fmt.Fprintf(&b, "a=%s\r\n", dir)
	return []byte(b.String())
}

// Parse reads the first audio stream of an SDP body. The connection address
// is the media-level c= line if there is one, else the session-level one.
func Parse(body []byte) (Session, error) {
	var s Session
	var sessAddr, mediaAddr string
	inAudio, seenAudio := false, false
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimRight(line, "\r ")
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		key, val := line[0], line[2:]
		switch key {
		case 'm':
			if seenAudio {
				inAudio = false
				continue
			}
			f := strings.Fields(val)
			if len(f) < 3 || f[0] != "audio" {
				inAudio = false
				continue
			}
			port, err := strconv.Atoi(strings.SplitN(f[1], "/", 2)[0])
			if err != nil || port < 0 || port > 65535 {
				return s, fmt.Errorf("sdp: bad audio port in %q", line)
			}
			s.Port = port
			for _, p := range f[3:] {
				if n, err := strconv.Atoi(p); err == nil {
					s.Formats = append(s.Formats, n)
				}
			}
			inAudio, seenAudio = true, true
		case 'c':
			f := strings.Fields(val)
			if len(f) < 3 {
				continue
			}
			addr := strings.SplitN(f[2], "/", 2)[0]
			if inAudio {
				mediaAddr = addr
			} else if !seenAudio {
				sessAddr = addr
			}
		case 'a':
			if !inAudio && seenAudio {
				continue
			}
			switch val {
			case "sendrecv", "sendonly", "recvonly", "inactive":
				s.Direction = val
			}
		}
	}
	if !seenAudio {
		return s, errors.New("sdp: no audio stream")
	}
	a := mediaAddr
	if a == "" {
		a = sessAddr
	}
	if a == "" {
		return s, errors.New("sdp: no connection address")
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return s, fmt.Errorf("sdp: connection address %q is not an IP address", a)
	}
	s.Addr = ip
	return s, nil
}

// Choose returns the first of want that the formats offer, or -1.
func Choose(formats []int, want ...int) int {
	for _, w := range want {
		for _, f := range formats {
			if f == w {
				return w
			}
		}
	}
	return -1
}
