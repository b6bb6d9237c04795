package engine

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/otpgate/otpgate/engine/store"
	"github.com/otpgate/otpgate/internal/phone"
)

// Ending a verification (verified, failed, expired, canceled) and reading
// it: the code wiped, pending timers dropped, the purge scheduled.

// deadlinePurge removes an ended verification after the retention.
const deadlinePurge = "purge"

// end moves r out of pending (inside an Update function): it wipes the
// sealed code, drops the pending timers (webhooks stay scheduled), schedules
// the purge after the retention, and queues the status webhook.
func (e *Engine) end(r *store.Record, status string, now time.Time, detail string) {
	r.Status = status
	r.CodeSealed = nil
	r.ClearHanded()
	r.Deadlines = slices.DeleteFunc(r.Deadlines, func(d store.Deadline) bool { return d.Kind != deadlineWebhook })
	r.Deadlines = append(r.Deadlines, store.Deadline{At: now.Add(e.cfg.Retention), Kind: deadlinePurge})
	r.UpdatedAt = now
	r.Events = append(r.Events, store.Event{At: now, Type: status, Detail: detail})
	e.notify(r, "verification."+status, now, nil, detail)
	e.hangup(r.ID) // a call still ringing or playing ends with the verification
}

// Get returns the verification of tenant.
func (e *Engine) Get(ctx context.Context, tenant, id string) (*View, error) {
	r, err := e.st.Get(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.Tenant != tenant) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return e.view(r), nil
}

// Cancel ends a pending verification of tenant.
func (e *Engine) Cancel(ctx context.Context, tenant, id string) (*View, error) {
	r, err := e.st.Get(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.Tenant != tenant) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if expired, err := e.expireIfDue(id); err != nil {
		return nil, err
	} else if expired {
		return nil, ErrNotPending
	}
	return e.finish(id, StatusCanceled, "canceled by tenant")
}

// expireIfDue expires a pending verification whose ttl has passed (the
// timer may lag under load) and reports whether it did or it had already
// ended.
func (e *Engine) expireIfDue(id string) (bool, error) {
	now := e.now()
	ended := false
	rec, err := e.update(id, func(r *store.Record) error {
		ended = r.Status != StatusPending
		if ended || now.Before(r.ExpiresAt) {
			return store.ErrNoChange
		}
		e.end(r, StatusExpired, now, "ttl passed")
		ended = true
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if ended && rec.Status == StatusExpired && rec.UpdatedAt.Equal(now) {
		countVerification(StatusExpired, rec)
	}
	return ended, nil
}

// finish ends a pending verification with status.
func (e *Engine) finish(id, status, detail string) (*View, error) {
	now := e.now()
	rec, err := e.update(id, func(r *store.Record) error {
		if r.Status != StatusPending {
			return ErrNotPending
		}
		e.end(r, status, now, detail)
		return nil
	})
	if err != nil {
		return nil, err
	}
	countVerification(status, rec)
	return e.view(rec), nil
}

// Approve ends a pending verification of tenant as verified without a
// code: the tenant confirmed the user another way (Twilio's
// Status=approved).
func (e *Engine) Approve(ctx context.Context, tenant, id string) (*View, error) {
	r, err := e.st.Get(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.Tenant != tenant) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if expired, err := e.expireIfDue(id); err != nil {
		return nil, err
	} else if expired {
		return nil, ErrNotPending
	}
	return e.finish(id, StatusVerified, "approved by the tenant without a code")
}

// FindLatest returns tenant's pending verification of number (E.164, or
// national with country), else the one that ended last (while it is
// kept), else ErrNotFound: an API that checks by number tells a number
// whose verification failed from one that has none.
func (e *Engine) FindLatest(ctx context.Context, tenant, number, country string) (*View, error) {
	v, err := e.FindPending(ctx, tenant, number, country)
	if !errors.Is(err, ErrNotFound) {
		return v, err
	}
	num, err := e.parseNumber(number, country)
	if err != nil {
		return nil, err
	}
	id, ok, err := e.st.Lookup(store.LastIndex, tenant, num.E164)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return e.Get(ctx, tenant, id)
}

func (e *Engine) parseNumber(number, country string) (phone.Number, error) {
	num, err := e.phone.Parse(number, country)
	if err != nil {
		var pe *phone.Error
		if errors.As(err, &pe) {
			return num, &FieldError{Field: pe.Field, Code: "invalid_number", Detail: err.Error()}
		}
	}
	return num, err
}

// FindPending returns tenant's pending verification of number (E.164, or
// national with country), or ErrNotFound.
func (e *Engine) FindPending(ctx context.Context, tenant, number, country string) (*View, error) {
	num, err := e.parseNumber(number, country)
	if err != nil {
		return nil, err
	}
	id, ok, err := e.st.Lookup(store.PendingIndex, tenant, num.E164)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	v, err := e.Get(ctx, tenant, id)
	if err == nil && v.Status != StatusPending {
		return nil, ErrNotFound
	}
	return v, err
}
