package txn

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// TimeLayout is the wire form of event_time: RFC 3339, UTC, always six
// fractional digits (microseconds).
const TimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// AppendJSON appends the wire form of t to b. It writes the same bytes as
// json.Marshal would, without reflection: the generator's hot path.
func (t *Transaction) AppendJSON(b []byte) []byte {
	// One growth up front; the appends below then never reallocate.
	b = slices.Grow(b, jsonSizeHint)
	b = append(b, `{"transaction_id":`...)
	b = appendString(b, t.TransactionID)
	b = append(b, `,"event_time":"`...)
	b = appendTime(b, t.EventTime)
	b = append(b, `","account_id":`...)
	b = appendString(b, t.AccountID)
	if t.CounterpartyID != "" {
		b = append(b, `,"counterparty_id":`...)
		b = appendString(b, t.CounterpartyID)
	}
	if t.MerchantID != "" {
		b = append(b, `,"merchant_id":`...)
		b = appendString(b, t.MerchantID)
	}
	if t.MerchantCategory != "" {
		b = append(b, `,"merchant_category":`...)
		b = appendString(b, t.MerchantCategory)
	}
	b = append(b, `,"amount":`...)
	b = t.Amount.AppendText(b)
	b = append(b, `,"currency":`...)
	b = appendString(b, t.Currency)
	b = append(b, `,"type":`...)
	b = appendString(b, t.Type)
	b = append(b, `,"status":`...)
	b = appendString(b, t.Status)
	b = append(b, `,"channel":`...)
	b = appendString(b, t.Channel)
	b = append(b, `,"country":`...)
	b = appendString(b, t.Country)
	if t.CardFingerprint != "" {
		b = append(b, `,"card_fingerprint":`...)
		b = appendString(b, t.CardFingerprint)
	}
	b = append(b, `,"balance_after":`...)
	b = t.BalanceAfter.AppendText(b)
	if t.IsFraud {
		b = append(b, `,"is_fraud":true`...)
	} else {
		b = append(b, `,"is_fraud":false`...)
	}
	if t.FraudScenario != "" {
		b = append(b, `,"fraud_scenario":`...)
		b = appendString(b, t.FraudScenario)
	}
	b = append(b, `,"source":`...)
	b = appendString(b, t.Source)
	return append(b, '}')
}

// jsonSizeHint covers a typical generated transaction (about 400 bytes).
const jsonSizeHint = 512

// MarshalJSON implements json.Marshaler with AppendJSON.
func (t Transaction) MarshalJSON() ([]byte, error) { return t.AppendJSON(nil), nil }

// appendString appends s as a JSON string. Plain ASCII, the common case, is
// copied as is, screened eight bytes at a time; anything else goes through
// encoding/json for exact escaping.
func appendString(b []byte, s string) []byte {
	// A read-only view of s's bytes, so that eight of them load as one word.
	p := unsafe.Slice(unsafe.StringData(s), len(s))
	if len(p) >= 8 {
		last := binary.LittleEndian.Uint64(p[len(p)-8:])
		for len(p) > 8 && !mayNeedEscape(binary.LittleEndian.Uint64(p)) {
			p = p[8:]
		}
		// What is left lies within the last eight bytes: one more word,
		// overlapping, instead of a byte loop.
		if len(p) <= 8 && !mayNeedEscape(last) {
			p = nil
		}
	}
	for _, c := range p {
		if !plainASCII[c] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

const (
	lsb8 = 0x0101010101010101
	msb8 = 0x8080808080808080
)

// mayNeedEscape screens eight bytes (SWAR): false means none needs
// escaping; true means one may (it also flags space, '!', '#' and '='),
// which the byte loop then decides. Each term flags bytes below n after an
// XOR, exactly when no byte has its top bit set, and such bytes are flagged
// by the first term.
func mayNeedEscape(x uint64) bool {
	m := (x-0x20*lsb8)&^x | x // control characters and non-ASCII
	y := x ^ '"'*lsb8
	m |= (y - 5*lsb8) &^ y // space ! " # &
	y = x ^ '<'*lsb8
	m |= (y - 3*lsb8) &^ y // < = >
	y = x ^ '\\'*lsb8
	m |= (y - lsb8) &^ y
	return m&msb8 != 0
}

// plainASCII marks the bytes a JSON string holds unescaped. encoding/json
// also escapes <, > and & (HTML safety); they go the slow way to match it.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return
}()

// twoDigits holds "00" to "99".
const twoDigits = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// wire mirrors Transaction with pointers, so that a missing field can be told
// apart from a zero one.
type wire struct {
	TransactionID    *string          `json:"transaction_id"`
	EventTime        *string          `json:"event_time"`
	AccountID        *string          `json:"account_id"`
	CounterpartyID   *string          `json:"counterparty_id"`
	MerchantID       *string          `json:"merchant_id"`
	MerchantCategory *string          `json:"merchant_category"`
	Amount           *json.RawMessage `json:"amount"`
	Currency         *string          `json:"currency"`
	Type             *string          `json:"type"`
	Status           *string          `json:"status"`
	Channel          *string          `json:"channel"`
	Country          *string          `json:"country"`
	CardFingerprint  *string          `json:"card_fingerprint"`
	BalanceAfter     *json.RawMessage `json:"balance_after"`
	IsFraud          *bool            `json:"is_fraud"`
	FraudScenario    *string          `json:"fraud_scenario"`
	Source           *string          `json:"source"`
}

// FieldError is a validation failure of one field. Reason is stable and
// short, for metrics labels; Error() gives the whole message.
type FieldError struct {
	Field  string
	Reason string
	Detail string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason + ": " + e.Detail
	}
	return fmt.Sprintf("field %s: %s: %s", e.Field, e.Reason, e.Detail)
}

// Reasons, the stable part of a FieldError.
const (
	ReasonMalformedJSON = "malformed_json"
	ReasonInvalidUTF8   = "invalid_utf8"
	ReasonMissingField  = "missing_field"
	ReasonWrongType     = "wrong_type"
	ReasonInvalidValue  = "invalid_value"
)

// ReasonOf returns the stable reason of a Decode or Validate error.
func ReasonOf(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return "unknown"
}

// Decode parses the wire form strictly and validates it. Every failure is a
// *FieldError naming the field.
//
// Canonical input takes a reflection-free path (decode_fast.go); anything
// else, and every failure, goes through decodeReflect, the reference, so
// both give the same Transaction and the same errors.
func Decode(data []byte) (Transaction, error) {
	var t Transaction
	if decodeFast(data, &t) {
		return t, Validate(&t)
	}
	return decodeReflect(data)
}

// decodeReflect is the reference decoder: encoding/json into a struct of
// pointers, then validation with DefaultLimits.
func decodeReflect(data []byte) (Transaction, error) {
	var t Transaction
	if !utf8.Valid(data) {
		return t, &FieldError{Reason: ReasonInvalidUTF8, Detail: "message is not valid UTF-8"}
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return t, &FieldError{Field: te.Field, Reason: ReasonWrongType, Detail: fmt.Sprintf("expected %s, got %s", jsonKind(te.Type.String()), te.Value)}
		}
		return t, &FieldError{Reason: ReasonMalformedJSON, Detail: err.Error()}
	}
	if dec.More() {
		return t, &FieldError{Reason: ReasonMalformedJSON, Detail: "trailing data after the JSON object"}
	}
	required := []struct {
		name string
		v    *string
		dst  *string
	}{
		{"transaction_id", w.TransactionID, &t.TransactionID},
		{"account_id", w.AccountID, &t.AccountID},
		{"currency", w.Currency, &t.Currency},
		{"type", w.Type, &t.Type},
		{"status", w.Status, &t.Status},
		{"channel", w.Channel, &t.Channel},
		{"country", w.Country, &t.Country},
		{"source", w.Source, &t.Source},
	}
	for _, f := range required {
		if f.v == nil {
			return t, missing(f.name)
		}
		*f.dst = *f.v
	}
	for _, f := range []struct {
		v   *string
		dst *string
	}{
		{w.CounterpartyID, &t.CounterpartyID},
		{w.MerchantID, &t.MerchantID},
		{w.MerchantCategory, &t.MerchantCategory},
		{w.CardFingerprint, &t.CardFingerprint},
		{w.FraudScenario, &t.FraudScenario},
	} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if w.EventTime == nil {
		return t, missing("event_time")
	}
	et, err := time.Parse(time.RFC3339Nano, *w.EventTime)
	if err != nil {
		return t, &FieldError{Field: "event_time", Reason: ReasonInvalidValue, Detail: "not an RFC 3339 timestamp: " + strconv.Quote(*w.EventTime)}
	}
	t.EventTime = et.UTC().Truncate(time.Microsecond)
	if t.Amount, err = decodeAmount("amount", w.Amount); err != nil {
		return t, err
	}
	if t.BalanceAfter, err = decodeAmount("balance_after", w.BalanceAfter); err != nil {
		return t, err
	}
	if w.IsFraud == nil {
		return t, missing("is_fraud")
	}
	t.IsFraud = *w.IsFraud
	return t, Validate(&t)
}

func missing(field string) error {
	return &FieldError{Field: field, Reason: ReasonMissingField, Detail: "required"}
}

func decodeAmount(field string, raw *json.RawMessage) (Amount, error) {
	if raw == nil || string(*raw) == "null" {
		return 0, missing(field)
	}
	b := []byte(*raw)
	if len(b) > 0 && (b[0] == '{' || b[0] == '[' || b[0] == 't' || b[0] == 'f') {
		return 0, &FieldError{Field: field, Reason: ReasonWrongType, Detail: "expected a decimal number, got " + string(b)}
	}
	var a Amount
	if err := a.UnmarshalJSON(b); err != nil {
		return 0, &FieldError{Field: field, Reason: ReasonInvalidValue, Detail: fmt.Sprintf("%s: %s", err, b)}
	}
	return a, nil
}

func jsonKind(goType string) string {
	switch goType {
	case "string", "*string":
		return "string"
	case "bool", "*bool":
		return "boolean"
	}
	return goType
}
