package api

import (
	"io"
	"net"
	"sync"
	"time"
)

// Lingering close. When the server closes a connection while the client is
// still sending (a body over the size limit answered with 413 before it was
// read), the kernel answers the unread bytes with a reset, and a client
// that writes its whole body before reading (Python's urllib, curl with
// small bodies) sees "connection reset" instead of the 413. So a closing
// connection first shuts its write side (the answer is already written and
// the FIN follows it), then reads and discards what the client still sends,
// up to lingerBytes or lingerTime, and only then closes. The draining runs
// in its own goroutine, at most maxLingering at once (beyond that a close
// is immediate), so a flood of closes cannot pin the server.
const (
	lingerBytes  = 4 << 20
	lingerTime   = 3 * time.Second
	maxLingering = 1024
)

type lingerListener struct {
	net.Listener
	slots chan struct{}
}

func newLingerListener(ln net.Listener) net.Listener {
	return &lingerListener{Listener: ln, slots: make(chan struct{}, maxLingering)}
}

func (l *lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	return &lingerConn{TCPConn: tc, slots: l.slots}, nil
}

type lingerConn struct {
	*net.TCPConn
	slots chan struct{}
	once  sync.Once
}

func (c *lingerConn) Close() error {
	var err error
	c.once.Do(func() {
		select {
		case c.slots <- struct{}{}:
		default:
			err = c.TCPConn.Close()
			return
		}
		if err = c.TCPConn.CloseWrite(); err != nil {
			<-c.slots
			err = c.TCPConn.Close()
			return
		}
		go func() {
			defer func() { <-c.slots }()
			_ = c.TCPConn.SetReadDeadline(time.Now().Add(lingerTime))
			_, _ = io.CopyN(io.Discard, c.TCPConn, lingerBytes)
			_ = c.TCPConn.Close()
		}()
	})
	return err
}
