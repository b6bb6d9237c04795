package sdp

import (
	"net/netip"
	"slices"
	"testing"
)

func TestWriteParse(t *testing.T) {
	in := Session{Addr: netip.MustParseAddr("192.0.2.7"), Port: 40000, Formats: []int{PCMU, PCMA}}
	out, err := Parse(Write("otpgate", 42, in))
	if err != nil {
		t.Fatal(err)
	}
	if out.Addr != in.Addr || out.Port != in.Port || !slices.Equal(out.Formats, in.Formats) || out.Direction != "sendrecv" {
		t.Errorf("round trip: %+v", out)
	}
}

func TestParseMediaLevelAddressAndSecondStream(t *testing.T) {
	body := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=audio 6000 RTP/AVP 8 0 101\r\nc=IN IP4 10.0.0.2\r\na=rtpmap:101 telephone-event/8000\r\na=sendonly\r\n" +
		"m=video 6002 RTP/AVP 96\r\nc=IN IP4 10.0.0.3\r\na=recvonly\r\n"
	s, err := Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr.String() != "10.0.0.2" || s.Port != 6000 || !slices.Equal(s.Formats, []int{8, 0, 101}) || s.Direction != "sendonly" {
		t.Errorf("%+v", s)
	}
	if Choose(s.Formats, PCMU, PCMA) != PCMU || Choose(s.Formats, 9) != -1 {
		t.Error("Choose")
	}
	for _, bad := range []string{"v=0\r\n", "m=audio 6000 RTP/AVP 0\r\n", "c=IN IP4 host.example\r\nm=audio 1 RTP/AVP 0\r\n"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
