package sip_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/otpgate/otpgate/sip"
)

// Interop with sipp (Debian's sip-tester, installed by scripts/test-deps.sh)
// as the called party: its built-in uas scenario answers, echoes the RTP it
// receives back to where it came from, and waits for our BYE. The call must
// be set up and torn down cleanly (sipp exits 0 after exactly one
// successful call) and the RTP that comes back must be what we sent.
func TestSippInterop(t *testing.T) {
	sippPath, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp is not on PATH: run scripts/test-deps.sh (installs Debian's sip-tester) to run the sipp interop test")
	}
	sipPort := freeUDPPort(t, 0)
	mediaPort := freeUDPPort(t, 2) // sipp echoes on this port and on port+2

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, sippPath,
		"-sn", "uas", // the built-in UAS scenario: 180, 200 with SDP (PCMU), wait for ACK and BYE
		"-rtp_echo",
		"-i", "127.0.0.1", "-p", strconv.Itoa(sipPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-m", "1", // exit after one call
		"-nostdin",
		"-timeout", "45s", "-timeout_error",
	)
	cmd.Dir = t.TempDir()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("sipp output:\n%s", tail(out.Bytes(), 3000))
		}
	}()

	c := newClient(t, sip.Trunk{Name: "sipp", Addr: "127.0.0.1:" + strconv.Itoa(sipPort), From: "+15550001111"})
	audio := audioPattern(50*160, 11) // 1 s
	var mu sync.Mutex
	var echoed []rtp.Packet
	// sipp may still be starting: the INVITE is retransmitted until it
	// answers (within the trunk's response timeout).
	time.Sleep(200 * time.Millisecond)
	res, err := c.Place(ctx, sip.Call{To: "+15557654321", Audio: audio, OnRTP: func(b []byte) {
		var p rtp.Packet
		if p.Unmarshal(append([]byte(nil), b...)) == nil {
			mu.Lock()
			echoed = append(echoed, p)
			mu.Unlock()
		}
	}})
	if err != nil {
		t.Fatalf("call to sipp: %v (result %+v)", err, res)
	}
	if res.Outcome != sip.OutcomeAnswered || res.SIPStatus != 200 || res.Codec != "PCMU" || res.RTPPackets != 50 || res.EndedBy != sip.EndedCompleted {
		t.Fatalf("result %+v", res)
	}

	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("sipp exited with %d, want 0 (one successful call)", ee.ExitCode())
		} else if err != nil {
			t.Fatalf("sipp: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("sipp did not exit after the call")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(echoed) != 50 {
		t.Fatalf("%d RTP packets came back, want 50", len(echoed))
	}
	var got []byte
	for i, p := range echoed {
		got = append(got, p.Payload...)
		if p.PayloadType != 0 || p.Marker != (i == 0) {
			t.Errorf("echoed packet %d: payload type %d marker %v", i, p.PayloadType, p.Marker)
		}
		if i > 0 {
			q := echoed[i-1]
			if p.SequenceNumber != q.SequenceNumber+1 || p.Timestamp != q.Timestamp+160 || p.SSRC != q.SSRC {
				t.Errorf("echoed packet %d: seq %d ts %d ssrc %x after seq %d ts %d ssrc %x",
					i, p.SequenceNumber, p.Timestamp, p.SSRC, q.SequenceNumber, q.Timestamp, q.SSRC)
			}
		}
	}
	if !bytes.Equal(got, audio) {
		t.Errorf("echoed audio (%d bytes) differs from what was sent (%d bytes)", len(got), len(audio))
	}
}

// freeUDPPort finds a loopback UDP port that is free, and so is port+also
// when also > 0.
func freeUDPPort(t *testing.T, also int) int {
	t.Helper()
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		if also == 0 {
			pc.Close()
			return port
		}
		pc2, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port+also))
		pc.Close()
		if err == nil {
			pc2.Close()
			return port
		}
	}
	t.Fatal("no free UDP port pair")
	return 0
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
