package engine_test

import (
	"log/slog"
	"testing"

	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/engine/enginetest"
	"github.com/otpgate/otpgate/engine/store"
)

// TestContract runs the contract suite on the Pebble store.
func TestContract(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) engine.Store {
		st, err := store.Open(store.Options{Dir: t.TempDir(), Sync: store.SyncNone, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
