package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/otpgate/otpgate/engine/store"
)

// Checking a code: compared with the keyed hash under the record's shard
// lock (attempts cannot be raced), counted against the number's check
// limit in the same commit, and answered the same way in the record.

// CheckResult is the answer to a check.
type CheckResult struct {
	ID           string
	Status       string
	Verified     bool
	AttemptsLeft int
	// Reason when not verified: wrong_code, max_attempts, expired, canceled,
	// already_verified, failed.
	Reason string
}

// Check compares code with the verification's code. Serialized per
// verification by the store, so concurrent checks never exceed MaxAttempts.
func (e *Engine) Check(ctx context.Context, tenant, id, code string) (CheckResult, error) {
	var res CheckResult
	code = normalizeCode(code)
	now := e.now()
	var became string
	// the tenant's guess rate: refused before the code is compared when
	// its wrong codes have used it up (a wrong code takes a token below)
	guess, guarded := e.guessBucket(tenant, now)
	if guarded {
		if ok, wait := e.st.BucketHas(guess); !ok {
			fraudRefused("guess_rate_limit", "", "")
			return CheckResult{}, &LimitError{Code: "guess_rate_limit", RetryAfter: wait,
				Detail: fmt.Sprintf("too many wrong codes for this tenant, all numbers together (at most %g a second); retry in %s", guess.Rate, wait.Round(time.Millisecond))}
		}
	}
	// A check of a pending verification, or of one verified within the
	// retry window (where a right code still answers yes), counts against
	// the number's check limit in the same commit, and is refused before
	// the code is compared when the limit is full; any other check of an
	// ended verification (answered from the record, nothing changes) does
	// not count.
	w := e.cfg.Limits.NumberChecks
	limit := func(r *store.Record) *store.Limit {
		if w.Max < 0 || (r.Status != StatusPending && !retryOpen(r, now)) {
			return nil
		}
		return &store.Limit{Name: "c\x00" + r.Number, Window: w.Per, Max: w.Max, Now: now}
	}
	rec, err := e.updateCounted(id, func(r *store.Record) error {
		became = ""
		if r.Tenant != tenant {
			return ErrNotFound
		}
		res = CheckResult{ID: r.ID, Status: r.Status}
		switch r.Status {
		case StatusPending:
		case StatusVerified:
			// A client that retries a successful check (its answer was
			// lost to a timeout) gets the same yes for the same code
			// within retryWindow; later, or with another code, a no: a
			// code seen afterwards is never a fresh verification. The
			// window is no oracle to guess codes with: the first wrong
			// code in it closes it (an event records that), and every
			// check in it counts against the number's check limit.
			res.Reason = "already_verified"
			if !retryOpen(r, now) {
				return store.ErrNoChange
			}
			if len(code) <= MaxCodeLength*2 && e.sec.matches(r.ID, code, r.CodeHash) {
				res.Verified = true
				return nil // nothing changes, but the check is counted
			}
			r.UpdatedAt = now
			r.Events = append(r.Events, store.Event{At: now, Type: eventRetryClosed, Detail: "a wrong code after the success: no more retries"})
			return nil
		case StatusFailed:
			res.Reason = "max_attempts"
			if r.Attempts < r.MaxAttempts {
				res.Reason = "failed"
			}
			return store.ErrNoChange
		default:
			res.Reason = r.Status
			return store.ErrNoChange
		}
		if !now.Before(r.ExpiresAt) {
			e.end(r, StatusExpired, now, "ttl passed")
			res.Status, res.Reason, became = StatusExpired, "expired", StatusExpired
			return nil
		}
		if len(code) <= MaxCodeLength*2 && e.sec.matches(r.ID, code, r.CodeHash) {
			e.end(r, StatusVerified, now, "")
			// attempts_left is what a further check would have: none, as
			// the record says once the verification has ended
			res.Status, res.Verified, became = StatusVerified, true, StatusVerified
			return nil
		}
		r.Attempts++
		r.UpdatedAt = now
		r.Events = append(r.Events, store.Event{At: now, Type: "check_failed", Detail: fmt.Sprintf("attempt %d of %d", r.Attempts, r.MaxAttempts)})
		res.Reason = "wrong_code"
		if r.Attempts >= r.MaxAttempts {
			e.end(r, StatusFailed, now, "max attempts reached")
			res.Status, res.Reason, became = StatusFailed, "max_attempts", StatusFailed
		}
		res.AttemptsLeft = r.MaxAttempts - r.Attempts
		return nil
	}, limit)
	var le *store.LimitedError
	switch {
	case errors.As(err, &le):
		return CheckResult{}, &LimitError{Code: "number_check_limit", RetryAfter: le.RetryAfter, Detail: fmt.Sprintf("at most %d checks for this number in %s", w.Max, w.Per)}
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound):
		return CheckResult{}, ErrNotFound
	case err != nil:
		return CheckResult{}, err
	}
	checksTotal(res)
	if became != "" {
		countVerification(became, rec)
	}
	// a wrong code (also one in a success's retry window) is a guess
	wrong := !res.Verified && (res.Reason == "wrong_code" || became == StatusFailed || res.Reason == "already_verified")
	if wrong && guarded {
		if err := e.st.TakeBucket(guess); err != nil && !errors.As(err, new(*store.LimitedError)) {
			e.log.Error("guess rate: taking a token failed", "tenant", tenant, "err", err)
		}
	}
	if wrong && (res.Reason != "already_verified") {
		e.noteWrong(rec.Tenant, rec.Number, now)
	}
	return res, nil
}

// retryWindow is how long after a successful check the same code still
// answers verified: true (with reason already_verified), for a client that
// retries a check whose answer it lost.
const retryWindow = time.Minute

// eventRetryClosed marks a verified record whose retry window a wrong
// code closed.
const eventRetryClosed = "retry_closed"

// retryOpen reports whether a right code still answers yes on r: verified
// less than retryWindow ago and no wrong code since.
func retryOpen(r *store.Record, now time.Time) bool {
	if r.Status != StatusVerified {
		return false
	}
	at, ok := endedAt(r)
	if !ok || now.Sub(at) > retryWindow {
		return false
	}
	return !slices.ContainsFunc(r.Events, func(e store.Event) bool { return e.Type == eventRetryClosed })
}

// endedAt is when r left pending (its last event of its status).
func endedAt(r *store.Record) (time.Time, bool) {
	for i := len(r.Events) - 1; i >= 0; i-- {
		if r.Events[i].Type == r.Status {
			return r.Events[i].At, true
		}
	}
	return time.Time{}, false
}
