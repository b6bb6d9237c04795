package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGateHoldsCreatesWhileTheBacklogIsFull(t *testing.T) {
	g := newGate(2)
	g.add() // a send under way
	if err := g.admit(context.Background(), time.Second); err != nil {
		t.Fatalf("below the limit: %v", err)
	}
	// the admitted create holds the second place: the backlog is full
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
	// full again (the one just admitted holds the place): refused after
	// the wait, or when the caller gives up
	if err := g.admit(context.Background(), 10*time.Millisecond); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("full backlog past the wait: %v, want ErrOverloaded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.admit(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled caller: %v", err)
	}
	// woken together, waiters take the places there are, not more
	g2 := newGate(3)
	for range 3 {
		g2.add()
	}
	results := make(chan error, 5)
	for range 5 {
		go func() { results <- g2.admit(context.Background(), 300*time.Millisecond) }()
	}
	time.Sleep(20 * time.Millisecond)
	g2.done()
	g2.done() // two places free
	var ok, refused int
	for range 5 {
		if err := <-results; err == nil {
			ok++
		} else if errors.Is(err, ErrOverloaded) {
			refused++
		}
	}
	if ok != 2 || refused != 3 {
		t.Fatalf("%d admitted, %d refused; want 2 and 3", ok, refused)
	}
}
