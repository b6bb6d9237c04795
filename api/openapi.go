package api

import (
	_ "embed"
	"sync"

	"github.com/otpgate/otpgate/internal/apispec"
)

// spec is the native API's OpenAPI 3.1 document, served at /openapi.json.
// Every route the server has is in it or in a facade's own document, and
// every answer is as it says: tests check both against the running
// server (cmd/otpgate/openapi_integration_test.go).
//
//go:embed openapi.yaml
var spec []byte

// Spec returns the native API's OpenAPI document as YAML.
func Spec() []byte { return spec }

var specJSON = sync.OnceValue(func() []byte {
	b, err := apispec.JSON(spec)
	if err != nil {
		panic("api: openapi.yaml does not parse: " + err.Error()) // a test reads it on every build
	}
	return b
})
