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
	err := l.DecodeInto(data, now, &t, false)
	return t, err
}

// DecodeInto is Decode into *t. With share, t's strings may point into
// data instead of copies (low-cardinality values are shared constants
// either way): no allocation at all, for a caller that keeps data
// unchanged for as long as it uses t.
func (l Limits) DecodeInto(data []byte, now time.Time, t *Transaction, share bool) error {
	if decodeFastMode(data, t, share) {
		// Fully parsed: the reference would re-judge its final validation
		// (whatever its outcome) against l.
		return l.Validate(t, now)
	}
	var err error
	*t, err = decodeReflect(data)
	if err == nil || isValidationError(t, err) {
		return l.Validate(t, now)
	}
	return err
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
