package sip_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/zaf/g711"

	"github.com/otpgate/otpgate/sip"
	"github.com/otpgate/otpgate/sip/uas"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// audioPattern is deterministic "audio" of n bytes, different per seed.
func audioPattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + seed*17 + i/253)
	}
	return b
}

func startUAS(t testing.TB, network string, cfg uas.Config) *uas.Server {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	s, err := uas.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(network, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newClient(t testing.TB, tr sip.Trunk) *sip.Client {
	t.Helper()
	if tr.Name == "" {
		tr.Name = t.Name()
	}
	c, err := sip.NewClient(tr, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitEnded polls the simulator until the call has ended (the BYE's 200
// may reach the caller before the simulator has filed the call).
func waitEnded(t testing.TB, s *uas.Server, id string) uas.CallRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, ok := s.Call(id)
		if ok && !rec.Ended.IsZero() {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s not ended at the simulator (found %v, %+v)", id, ok, rec.Outcome)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func callErr(t *testing.T, err error) *sip.CallError {
	t.Helper()
	var ce *sip.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *sip.CallError", err, err)
	}
	return ce
}

func TestAnsweredCallRecordingMatches(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			srv := startUAS(t, network, uas.Config{})
			c := newClient(t, sip.Trunk{Addr: srv.Addr(), Transport: network, From: "+15550001111"})
			audio := audioPattern(25*160+77, 1) // 26 packets, the last one short
			start := time.Now()
			res, err := c.Place(context.Background(), sip.Call{To: "+393331234567", Audio: audio})
			if err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if res.Outcome != sip.OutcomeAnswered || res.SIPStatus != 200 || res.Codec != "PCMU" || res.EndedBy != sip.EndedCompleted {
				t.Fatalf("result %+v", res)
			}
			if res.RTPPackets != 26 {
				t.Errorf("sent %d RTP packets, want 26", res.RTPPackets)
			}
			if res.Answered.Before(res.Started) || res.Ended.Before(res.Answered) || res.CallID == "" {
				t.Errorf("times or id wrong: %+v", res)
			}
			// 26 packets 20 ms apart: at least half a second of playing.
			if took < 480*time.Millisecond {
				t.Errorf("call took %v: audio not paced", took)
			}
			rec := waitEnded(t, srv, res.CallID)
			if rec.Outcome != uas.OutcomeAnswered || rec.Codec != "PCMU" || rec.To != "+393331234567" || rec.From != "+15550001111" {
				t.Errorf("record %+v", rec)
			}
			if !bytes.Equal(rec.Audio, audio) {
				t.Fatalf("recording (%d bytes) differs from the audio sent (%d bytes)", len(rec.Audio), len(audio))
			}
			if rec.Packets != 26 || rec.SeqGaps != 0 {
				t.Errorf("recorded %d packets with %d gaps", rec.Packets, rec.SeqGaps)
			}
			if got := srv.Calls("393331234567"); len(got) != 1 || got[0].ID != res.CallID {
				t.Errorf("Calls by number: %d records", len(got))
			}
		})
	}
}

func TestBusy(t *testing.T) {
	srv := startUAS(t, "udp", uas.Config{Rules: []uas.Rule{{Prefix: "+1555", Action: uas.ActionBusy}}})
	c := newClient(t, sip.Trunk{Addr: srv.Addr()})
	res, err := c.Place(context.Background(), sip.Call{To: "+15551234567", Audio: audioPattern(320, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sip.OutcomeBusy || res.SIPStatus != 486 || res.RTPPackets != 0 {
		t.Fatalf("result %+v", res)
	}
	if rec := waitEnded(t, srv, res.CallID); rec.Outcome != uas.OutcomeBusy || len(rec.Audio) != 0 {
		t.Errorf("record %+v", rec)
	}
}

// A call nobody answers is given up after the ring timeout with a CANCEL:
// the simulator answers 487 and files the call as no_answer.
func TestNoAnswerRingTimeoutSendsCancel(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			srv := startUAS(t, network, uas.Config{Rules: []uas.Rule{{Prefix: "44", Action: uas.ActionNoAnswer}}})
			c := newClient(t, sip.Trunk{Addr: srv.Addr(), Transport: network, RingTimeout: 400 * time.Millisecond})
			start := time.Now()
			res, err := c.Place(context.Background(), sip.Call{To: "+447700900123", Audio: audioPattern(320, 3)})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != sip.OutcomeNoAnswer || res.SIPStatus != 487 {
				t.Fatalf("result %+v", res)
			}
			if took < 400*time.Millisecond || took > 5*time.Second {
				t.Errorf("gave up after %v, want the 400ms ring timeout", took)
			}
			rec := waitEnded(t, srv, res.CallID)
			if rec.Outcome != uas.OutcomeNoAnswer || !rec.Answered.IsZero() {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

func TestServiceUnavailableIsNotPermanent(t *testing.T) {
	srv := startUAS(t, "udp", uas.Config{Rules: []uas.Rule{{Prefix: "+49", Action: uas.ActionFail}}})
	c := newClient(t, sip.Trunk{Addr: srv.Addr()})
	res, err := c.Place(context.Background(), sip.Call{To: "+4915112345678", Audio: audioPattern(320, 4)})
	if err == nil {
		t.Fatalf("no error; result %+v", res)
	}
	ce := callErr(t, err)
	if ce.Permanent() || ce.Status != 503 || ce.Reason() != "sip_503" {
		t.Errorf("error %v: permanent %v status %d reason %s", err, ce.Permanent(), ce.Status, ce.Reason())
	}
	if res.Outcome != sip.OutcomeFailed || res.SIPStatus != 503 {
		t.Errorf("result %+v", res)
	}
}

func TestDigestAuth(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			srv := startUAS(t, network, uas.Config{Realm: "trunk.test", Username: "alice", Password: "s3cret"})
			audio := audioPattern(5*160, 5)

			good := newClient(t, sip.Trunk{Name: t.Name() + "/good", Addr: srv.Addr(), Transport: network, Username: "alice", Password: "s3cret"})
			res, err := good.Place(context.Background(), sip.Call{To: "+12025550100", Audio: audio})
			if err != nil || res.Outcome != sip.OutcomeAnswered {
				t.Fatalf("right password: %+v, %v", res, err)
			}
			if rec := waitEnded(t, srv, res.CallID); !bytes.Equal(rec.Audio, audio) {
				t.Errorf("recording differs after auth")
			}

			bad := newClient(t, sip.Trunk{Name: t.Name() + "/bad", Addr: srv.Addr(), Transport: network, Username: "alice", Password: "wrong"})
			res, err = bad.Place(context.Background(), sip.Call{To: "+12025550100", Audio: audio})
			if err == nil || res.Outcome != sip.OutcomeFailed {
				t.Fatalf("wrong password: %+v, %v", res, err)
			}
			if ce := callErr(t, err); ce.Status != 403 || !ce.Permanent() {
				t.Errorf("wrong password: %v (status %d, permanent %v)", err, ce.Status, ce.Permanent())
			}

			none := newClient(t, sip.Trunk{Name: t.Name() + "/none", Addr: srv.Addr(), Transport: network})
			res, err = none.Place(context.Background(), sip.Call{To: "+12025550100", Audio: audio})
			if err == nil || res.SIPStatus != 401 {
				t.Fatalf("no credentials: %+v, %v", res, err)
			}
			if n := len(srv.Calls("+12025550100")); n != 1 {
				t.Errorf("simulator filed %d calls, want only the authorised one", n)
			}
		})
	}
}

// Cancelling ctx while the phone rings (a code verified meanwhile) sends a
// CANCEL at once.
func TestCancelWhileRinging(t *testing.T) {
	srv := startUAS(t, "udp", uas.Config{Rules: []uas.Rule{{Prefix: "", Action: uas.ActionNoAnswer}}})
	c := newClient(t, sip.Trunk{Addr: srv.Addr(), RingTimeout: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := c.Place(ctx, sip.Call{To: "+33612345678", Audio: audioPattern(320, 6)})
	took := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if !callErr(t, err).Permanent() {
		t.Error("a cancelled call should not be tried on another trunk")
	}
	if res.Outcome != sip.OutcomeNoAnswer || res.SIPStatus != 487 {
		t.Errorf("result %+v", res)
	}
	if took > 3*time.Second {
		t.Errorf("took %v to hang up", took)
	}
	if rec := waitEnded(t, srv, res.CallID); rec.Outcome != uas.OutcomeNoAnswer {
		t.Errorf("record %+v", rec)
	}
}

// Cancelling ctx during the call hangs up with BYE.
func TestCancelDuringCall(t *testing.T) {
	srv := startUAS(t, "tcp", uas.Config{})
	c := newClient(t, sip.Trunk{Addr: srv.Addr(), Transport: "tcp"})
	ctx, cancel := context.WithCancel(context.Background())
	audio := audioPattern(250*160, 7) // 5 s
	go func() {
		for {
			if calls := srv.Calls("+34612345678"); len(calls) > 0 && calls[0].Packets > 10 {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	res, err := c.Place(ctx, sip.Call{To: "+34612345678", Audio: audio})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sip.OutcomeAnswered || res.EndedBy != sip.EndedCanceled || res.RTPPackets >= 250 || res.RTPPackets < 10 {
		t.Fatalf("result %+v", res)
	}
	rec := waitEnded(t, srv, res.CallID)
	if !bytes.Equal(rec.Audio, audio[:len(rec.Audio)]) || rec.Packets > res.RTPPackets {
		t.Errorf("recording is not the start of the audio (%d packets of %d)", rec.Packets, res.RTPPackets)
	}
}

func TestTransportFailures(t *testing.T) {
	// TCP: nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := newClient(t, sip.Trunk{Name: "dead-tcp", Addr: addr, Transport: "tcp"})
	res, err := c.Place(context.Background(), sip.Call{To: "+15550000000", Audio: audioPattern(160, 8)})
	if ce := callErr(t, err); ce.Permanent() || ce.Reason() != "sip_transport" || res.Outcome != sip.OutcomeFailed {
		t.Errorf("dead TCP trunk: %v, reason %s, %+v", err, ce.Reason(), res)
	}

	// UDP: a socket that never answers.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c = newClient(t, sip.Trunk{Name: "silent-udp", Addr: pc.LocalAddr().String(), ResponseTimeout: 300 * time.Millisecond})
	start := time.Now()
	res, err = c.Place(context.Background(), sip.Call{To: "+15550000000", Audio: audioPattern(160, 8)})
	if ce := callErr(t, err); ce.Permanent() || ce.Reason() != "sip_no_response" || res.Outcome != sip.OutcomeFailed {
		t.Errorf("silent UDP trunk: %v, %+v", err, res)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("silent trunk took %v, want about the 300ms response timeout", took)
	}
}

func TestMaxCallsAndMetrics(t *testing.T) {
	srv := startUAS(t, "udp", uas.Config{AnswerDelay: 300 * time.Millisecond})
	c := newClient(t, sip.Trunk{Name: "cap-test", Addr: srv.Addr(), MaxCalls: 1})
	first := make(chan error, 1)
	go func() {
		_, err := c.Place(context.Background(), sip.Call{To: "+15550000001", Audio: audioPattern(160, 9)})
		first <- err
	}()
	deadline := time.Now().Add(3 * time.Second)
	for metrics.GetOrCreateGauge(`otpgate_sip_calls_in_progress{trunk="cap-test"}`, nil).Get() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("first call never in progress")
		}
		time.Sleep(time.Millisecond)
	}
	_, err := c.Place(context.Background(), sip.Call{To: "+15550000002", Audio: audioPattern(160, 9)})
	if ce := callErr(t, err); ce.Reason() != "sip_capacity" || ce.Permanent() {
		t.Errorf("second call: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		`otpgate_sip_calls_attempted_total{trunk="cap-test"}`:           1,
		`otpgate_sip_calls_total{trunk="cap-test",outcome="answered"}`:  1,
		`otpgate_sip_rtp_packets_sent_total{trunk="cap-test"}`:          1,
		`otpgate_sip_calls_in_progress{trunk="cap-test"}`:               0,
		`otpgate_sip_answer_seizure_ratio{trunk="cap-test"}`:            1,
		`otpgate_sip_call_duration_seconds_count{trunk="cap-test"}`:     1,
		`otpgate_rtp_pacing_error_seconds_count{trunk="cap-test"}`:      1,
		`otpgate_sip_calls_total{trunk="cap-test",outcome="no_answer"}`: 0,
	} {
		if got := metricValue(t, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func metricValue(t *testing.T, name string) float64 {
	t.Helper()
	var b bytes.Buffer
	metrics.WritePrometheus(&b, false)
	for _, line := range bytes.Split(b.Bytes(), []byte("\n")) {
		var v float64
		if bytes.HasPrefix(line, []byte(name+" ")) {
			if _, err := fmt.Sscan(string(line[len(name)+1:]), &v); err == nil {
				return v
			}
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// 200 concurrent calls share the one pacer; every recording matches and the
// packets leave close to their schedule.
func TestPacer200Calls(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const calls = 200
	srv := startUAS(t, "udp", uas.Config{})
	// Setting up calls is busy work for the scheduler (sipgo runs a
	// goroutine per message and per timer); like a real trunk, the test
	// spaces call attempts (200 calls per second) so the streams already
	// playing are not starved by a burst of 200 INVITEs at once.
	c := newClient(t, sip.Trunk{Name: "pacer-200", Addr: srv.Addr(), MaxCalls: calls, CPS: 200})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make([]sip.Result, calls)
	errs := make([]error, calls)
	audios := make([][]byte, calls)
	for i := range calls {
		audios[i] = audioPattern(150*160, i) // 3 s
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.Place(ctx, sip.Call{To: fmt.Sprintf("+1202555%04d", i), Audio: audios[i]})
		}()
	}
	wg.Wait()
	for i := range calls {
		if errs[i] != nil || results[i].Outcome != sip.OutcomeAnswered || results[i].RTPPackets != 150 {
			t.Fatalf("call %d: %+v, %v", i, results[i], errs[i])
		}
	}
	for i := range calls {
		rec := waitEnded(t, srv, results[i].CallID)
		if !bytes.Equal(rec.Audio, audios[i]) {
			t.Fatalf("call %d: recording (%d bytes, %d gaps) differs", i, len(rec.Audio), rec.SeqGaps)
		}
	}
	p50, p99, mx, n := c.PacingSummary()
	t.Logf("pacing over %d packets of %d calls: p50 %v, p99 %v, max %v", n, calls, p50, p99, mx)
	if n != calls*150 {
		t.Errorf("%d packets measured, want %d", n, calls*150)
	}
	if p99 > 10*time.Millisecond {
		t.Errorf("pacing p99 %v > 10ms", p99)
	}
}

// A far end that takes only PCMA gets A-law: Call.AudioALaw when given,
// else the µ-law audio converted.
func TestPCMA(t *testing.T) {
	srv := startUAS(t, "udp", uas.Config{Codecs: []string{"PCMA"}})
	c := newClient(t, sip.Trunk{Addr: srv.Addr()})
	ulaw := audioPattern(10*160, 12)
	alaw := audioPattern(10*160, 13)

	res, err := c.Place(context.Background(), sip.Call{To: "+15550000010", Audio: ulaw, AudioALaw: alaw})
	if err != nil || res.Codec != "PCMA" {
		t.Fatalf("%+v, %v", res, err)
	}
	if rec := waitEnded(t, srv, res.CallID); rec.Codec != "PCMA" || !bytes.Equal(rec.Audio, alaw) {
		t.Errorf("recording is not the A-law audio given (codec %s)", rec.Codec)
	}

	res, err = c.Place(context.Background(), sip.Call{To: "+15550000011", Audio: ulaw})
	if err != nil || res.Codec != "PCMA" {
		t.Fatalf("%+v, %v", res, err)
	}
	if rec := waitEnded(t, srv, res.CallID); !bytes.Equal(rec.Audio, g711.Ulaw2Alaw(ulaw)) {
		t.Errorf("recording is not the µ-law audio converted to A-law")
	}
}

func TestTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	srv, err := uas.New(uas.Config{Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.ListenTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, sip.Trunk{Addr: srv.Addr(), Transport: "tls", TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
	audio := audioPattern(8*160, 14)
	res, err := c.Place(context.Background(), sip.Call{To: "+15550000020", Audio: audio})
	if err != nil || res.Outcome != sip.OutcomeAnswered {
		t.Fatalf("%+v, %v", res, err)
	}
	if rec := waitEnded(t, srv, res.CallID); !bytes.Equal(rec.Audio, audio) {
		t.Error("recording over TLS signalling differs")
	}

	// A client that does not trust the certificate cannot place the call.
	c = newClient(t, sip.Trunk{Name: "tls-untrusted", Addr: srv.Addr(), Transport: "tls"})
	_, err = c.Place(context.Background(), sip.Call{To: "+15550000020", Audio: audio})
	if ce := callErr(t, err); ce.Permanent() || ce.Reason() != "sip_transport" {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sip-sim test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// Cancelled before the trunk said anything: nothing can be CANCELled yet;
// Place waits for a first response until the response timeout, then drops
// the attempt.
func TestCancelBeforeAnyResponse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := newClient(t, sip.Trunk{Name: "mute", Addr: pc.LocalAddr().String(), ResponseTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.Place(ctx, sip.Call{To: "+15550000030", Audio: audioPattern(160, 15)})
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || callErr(t, err).Reason() != "sip_canceled" {
		t.Errorf("error %v", err)
	}
	if took < 400*time.Millisecond || took > 3*time.Second {
		t.Errorf("took %v, want about the 500ms response timeout", took)
	}
}
