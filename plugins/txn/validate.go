package txn

import (
	"fmt"
	"slices"
	"time"
)

// Limits are the plausibility bounds of Validate. The zero value is not
// useful; start from DefaultLimits.
type Limits struct {
	// MaxAmount is the largest accepted amount of one transaction.
	MaxAmount Amount
	// MinTime is the earliest accepted event_time.
	MinTime time.Time
	// MaxFuture is how far past now an event_time may lie (clock skew).
	MaxFuture time.Duration
}

// Equal reports whether l and o accept the same transactions: the same
// amount and time bounds (times compared as instants, whatever their zone).
func (l Limits) Equal(o Limits) bool {
	return l.MaxAmount == o.MaxAmount && l.MinTime.Equal(o.MinTime) && l.MaxFuture == o.MaxFuture
}

// DefaultLimits accepts amounts up to one billion, and event times from
// 2000-01-01 to one day past now.
var DefaultLimits = Limits{
	MaxAmount: 1_000_000_000 * amountUnit,
	MinTime:   time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	MaxFuture: 24 * time.Hour,
}

// Validate checks t against the schema with DefaultLimits.
func Validate(t *Transaction) error { return DefaultLimits.Validate(t, time.Now()) }

// Validate checks every field of t, and the rules between fields, against
// the schema and l. now is the reference for MaxFuture. The first failure is
// returned as a *FieldError.
func (l Limits) Validate(t *Transaction, now time.Time) error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Reason: ReasonInvalidValue, Detail: fmt.Sprintf(format, args...)}
	}
	if !isUUID(t.TransactionID) {
		return bad("transaction_id", "not a canonical lower-case UUID: %q", t.TransactionID)
	}
	if t.EventTime.Before(l.MinTime) {
		return bad("event_time", "%s is before %s", t.EventTime.Format(time.RFC3339), l.MinTime.Format(time.RFC3339))
	}
	if t.EventTime.After(now.Add(l.MaxFuture)) {
		return bad("event_time", "%s is more than %s in the future", t.EventTime.Format(time.RFC3339), l.MaxFuture)
	}
	if t.AccountID == "" || len(t.AccountID) > 64 {
		return bad("account_id", "must be 1 to 64 characters, got %d", len(t.AccountID))
	}
	if !IsCurrency(t.Currency) {
		return bad("currency", "unknown ISO 4217 code %q", t.Currency)
	}
	if t.Amount <= 0 {
		return bad("amount", "must be positive, got %s", t.Amount)
	}
	if t.Amount > l.MaxAmount {
		return bad("amount", "%s exceeds the limit %s", t.Amount, l.MaxAmount)
	}
	if exp := currencyExponent(t.Currency); t.Amount.Decimals() > exp {
		return bad("amount", "%s has more decimal places than %s allows (%d)", t.Amount, t.Currency, exp)
	}
	if t.BalanceAfter > MaxAmount || t.BalanceAfter < -MaxAmount {
		return bad("balance_after", "%s is out of range", t.BalanceAfter)
	}
	if !slices.Contains(Types, t.Type) {
		return bad("type", "%q is not one of %v", t.Type, Types)
	}
	if !slices.Contains(Statuses, t.Status) {
		return bad("status", "%q is not one of %v", t.Status, Statuses)
	}
	if !slices.Contains(Channels, t.Channel) {
		return bad("channel", "%q is not one of %v", t.Channel, Channels)
	}
	if !IsCountry(t.Country) {
		return bad("country", "unknown ISO 3166-1 alpha-2 code %q", t.Country)
	}
	if t.MerchantCategory != "" && !IsMCC(t.MerchantCategory) {
		return bad("merchant_category", "%q is not a four-digit ISO 18245 code", t.MerchantCategory)
	}
	if (t.Type == TypePayment || t.Type == TypeRefund) && t.MerchantID == "" {
		return &FieldError{Field: "merchant_id", Reason: ReasonMissingField, Detail: "required for type " + t.Type}
	}
	if t.Type == TypeTransfer && t.CounterpartyID == "" {
		return &FieldError{Field: "counterparty_id", Reason: ReasonMissingField, Detail: "required for type transfer"}
	}
	if t.CardFingerprint != "" && !isFingerprint(t.CardFingerprint) {
		return bad("card_fingerprint", "must be 16 to 64 lower-case hex characters (a hash, never a card number)")
	}
	if !t.IsFraud && t.FraudScenario != "" {
		return bad("fraud_scenario", "%q set but is_fraud is false", t.FraudScenario)
	}
	if t.Source == "" {
		return bad("source", "must not be empty")
	}
	return nil
}

// notLowerHex is 1 for every byte that is not 0-9 or a-f.
var notLowerHex = func() (t [256]byte) {
	for c := range t {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			t[c] = 1
		}
	}
	return
}()

// isUUID reports whether s is a canonical lower-case UUID. The digits are
// checked through a table without branching on each: their values are
// random, so a branch per digit would be mispredicted every other time.
func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	return hexRun(s[0:8])|hexRun(s[9:13])|hexRun(s[14:18])|hexRun(s[19:23])|hexRun(s[24:36]) == 0
}

// hexRun is 0 if every byte of s is 0-9 or a-f.
func hexRun(s string) (bad byte) {
	for i := 0; i < len(s); i++ {
		bad |= notLowerHex[s[i]]
	}
	return bad
}

func isFingerprint(s string) bool {
	if len(s) < 16 || len(s) > 64 {
		return false
	}
	if hexRun(s) != 0 {
		return false
	}
	// All digits of a card-number length is a leaked PAN, not a hash. (At
	// most 19 digits always fit a uint64: no strconv, whose error allocates.)
	if len(s) > 19 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return true
		}
	}
	return false
}
