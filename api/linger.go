package api

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Lingering close. When the server closes a connection while the client is
// still sending (a body over the size limit answered with 413 before it was
// read), the kernel answers the unread bytes with a reset, and a client
// that writes its whole body before reading (Python's urllib, curl with
// small bodies) sees "connection reset" instead of the 413. So a
// connection the server gives up on after an error answer (errorHandler
// marks it) closes lingering: its write side is shut (the answer is already
// written and the FIN follows it), what the client still sends is read and
// dropped, up to lingerBytes or lingerTime, and only then is it closed.
// Every other close is immediate: at shutdown fasthttp closes idle
// keep-alive connections from another goroutine, and a half-closed one
// would still read, and run, a request it can no longer answer. The
// draining runs in its own goroutine, at most maxLingering at once
// (beyond that a close is immediate), so a flood cannot pin the server.
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
	slots  chan struct{}
	once   sync.Once
	linger atomic.Bool // set by the error handler before fasthttp closes
}

// lingerOnClose makes the connection's close linger (see above); c is what
// fasthttp's error handler sees as the request's connection.
func lingerOnClose(c net.Conn) {
	if lc, ok := c.(*lingerConn); ok {
		lc.linger.Store(true)
	}
}

func (c *lingerConn) Close() error {
	var err error
	c.once.Do(func() {
		if !c.linger.Load() {
			err = c.TCPConn.Close()
			return
		}
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
