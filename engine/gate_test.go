package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGateHoldsCreatesWhileTheBacklogIsFull(t *testing.T) {
	g := newGate(2)
	g.add()
	if err := g.admit(context.Background(), time.Second); err != nil {
		t.Fatalf("below the limit: %v", err)
	}
	g.add()
	admitted := make(chan error, 1)
	go func() { admitted <- g.admit(context.Background(), 10*time.Second) }()
	select {
	case err := <-admitted:
		t.Fatalf("admitted with a full backlog: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	g.done() // a send finished
	select {
	case err := <-admitted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still waiting after the backlog dropped")
	}
	// full again: refused after the wait, or when the caller gives up
	g.add()
	if err := g.admit(context.Background(), 10*time.Millisecond); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full backlog past the wait: %v, want ErrOverloaded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.admit(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
}
