package sip_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/otpgate/otpgate/sip"
)

// The called party hangs up while the code is playing: the stream stops,
// no BYE of ours follows, and the result says who ended the call.
func TestRemoteHangUp(t *testing.T) {
	ua, err := sipgo.NewUA(sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(quietLog())))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	dua := &sipgo.DialogUA{Client: cli, ContactHDR: sipmsg.ContactHeader{Address: sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1", Port: port}}}
	var dialogs sync.Map
	byeErr := make(chan error, 1)
	srv.OnInvite(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		d, err := dua.ReadInvite(req, tx)
		if err != nil {
			byeErr <- err
			return
		}
		dialogs.Store(d.ID, d)
		media, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			byeErr <- err
			return
		}
		defer media.Close()
		answer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n",
			media.LocalAddr().(*net.UDPAddr).Port)
		if err := d.RespondSDP([]byte(answer)); err != nil {
			byeErr <- err
			return
		}
		time.Sleep(300 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		byeErr <- d.Bye(ctx)
	})
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		if id, err := sipmsg.DialogIDFromRequestUAS(req); err == nil {
			if d, ok := dialogs.Load(id); ok {
				d.(*sipgo.DialogServerSession).ReadAck(req, tx)
			}
		}
	})
	go srv.ServeUDP(pc)

	c := newClient(t, sip.Trunk{Addr: pc.LocalAddr().String()})
	start := time.Now()
	res, err := c.Place(context.Background(), sip.Call{To: "+15550000040", Audio: audioPattern(250*160, 16)}) // 5 s
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != sip.OutcomeAnswered || res.EndedBy != sip.EndedRemote || res.RTPPackets >= 250 {
		t.Errorf("result %+v", res)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("call lasted %v after the far end hung up at 300ms", took)
	}
	select {
	case err := <-byeErr:
		if err != nil {
			t.Errorf("far end's BYE: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("far end's BYE got no answer")
	}
}
