package txn

import (
	"errors"
	"strings"
	"time"
)

// Decode parses data strictly, like the package-level Decode, but
// validates against l with now as the reference for MaxFuture, instead of
// DefaultLimits and time.Now. Every failure is a *FieldError.
func (l Limits) Decode(data []byte, now time.Time) (Transaction, error) {
	var t Transaction
	if decodeFast(data, &t) {
		// Fully parsed: the reference would re-judge its final validation
		// (whatever its outcome) against l.
		return t, l.Validate(&t, now)
	}
	t, err := decodeReflect(data)
	if err == nil {
		return t, l.Validate(&t, now)
	}
	if isValidationError(&t, err) {
		return t, l.Validate(&t, now)
	}
	return t, err
}

// isValidationError tells a failure of Decode's final validation (t is
// complete, the failure reproducible from it) from a parse failure (t is
// partial). Only the former is re-judged against other limits.
func isValidationError(t *Transaction, err error) bool {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return false
	}
	if fe.Reason != ReasonInvalidValue && fe.Reason != ReasonMissingField {
		return false
	}
	// The future bound moves with the clock: recognise it by its text.
	if fe.Field == "event_time" && strings.HasSuffix(fe.Detail, "in the future") {
		return true
	}
	var again *FieldError
	if !errors.As(DefaultLimits.Validate(t, time.Now()), &again) {
		return false
	}
	return *again == *fe
}
