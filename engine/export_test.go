package engine

import (
	"encoding/json"

	"github.com/otpgate/otpgate/engine/store"
)

func encodeForTest(r *store.Record) ([]byte, error) { return json.Marshal(r) }
