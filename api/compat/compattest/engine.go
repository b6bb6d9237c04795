package compattest

import (
	"context"
	"time"

	"github.com/otpgate/otpgate/engine"
	"github.com/otpgate/otpgate/internal/ids"
)

// StubEngine answers every call with a fixed pending verification of the
// API it is told, for tests of a facade's input handling alone (fuzzing):
// whatever the input, the facade must answer in its vendor's shape.
type StubEngine struct {
	API, Scope string
	id         string
}

func (s *StubEngine) view(tenant string) *engine.View {
	if s.id == "" {
		s.id = ids.New()
	}
	now := time.Unix(1_800_000_000, 0).UTC()
	return &engine.View{ID: s.id, Status: engine.StatusPending, Number: "+14155552671", Country: "US",
		Workflow: []string{engine.ChannelSMS}, MaxAttempts: 3, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UpdatedAt: now,
		API: s.API, Scope: s.Scope}
}

// Create answers a new verification.
func (s *StubEngine) Create(ctx context.Context, req engine.CreateRequest) (*engine.Created, error) {
	v := s.view(req.Tenant)
	return &engine.Created{ID: v.ID, Status: v.Status, Number: v.Number}, nil
}

// Check answers a wrong code.
func (s *StubEngine) Check(ctx context.Context, tenant, id, code string) (engine.CheckResult, error) {
	return engine.CheckResult{ID: id, Status: engine.StatusPending, Reason: "wrong_code", AttemptsLeft: 2}, nil
}

// Get answers the pending verification.
func (s *StubEngine) Get(ctx context.Context, tenant, id string) (*engine.View, error) {
	return s.view(tenant), nil
}

// Cancel answers it canceled.
func (s *StubEngine) Cancel(ctx context.Context, tenant, id string) (*engine.View, error) {
	v := s.view(tenant)
	v.Status = engine.StatusCanceled
	return v, nil
}

// Next answers that no step is left.
func (s *StubEngine) Next(ctx context.Context, tenant, id string) (*engine.View, error) {
	return nil, engine.ErrNoNextStep
}

// Approve answers it verified.
func (s *StubEngine) Approve(ctx context.Context, tenant, id string) (*engine.View, error) {
	v := s.view(tenant)
	v.Status = engine.StatusVerified
	return v, nil
}

// FindLatest answers the pending verification.
func (s *StubEngine) FindLatest(ctx context.Context, tenant, number, country string) (*engine.View, error) {
	return s.view(tenant), nil
}

// FindPending answers the pending verification.
func (s *StubEngine) FindPending(ctx context.Context, tenant, number, country string) (*engine.View, error) {
	return s.view(tenant), nil
}

// BySeq answers the pending verification, numbered seq.
func (s *StubEngine) BySeq(ctx context.Context, tenant string, seq uint64) (*engine.View, error) {
	v := s.view(tenant)
	v.Seq = seq
	return v, nil
}
