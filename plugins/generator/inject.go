package generator

import (
	"bytes"

	"github.com/trstream/trstream/plugins/txn"
)

// InvalidTruth is what txn.Decode must say about an invalid kind: the stable
// reason, and the field ("" for whole-message failures; missing_field picks
// one of MissingFields).
var InvalidTruth = map[string]struct{ Reason, Field string }{
	InvalidMalformedJSON:  {txn.ReasonMalformedJSON, ""},
	InvalidMissingField:   {txn.ReasonMissingField, "*"},
	InvalidBadCurrency:    {txn.ReasonInvalidValue, "currency"},
	InvalidNegativeAmount: {txn.ReasonInvalidValue, "amount"},
	InvalidUTF8:           {txn.ReasonInvalidUTF8, ""},
	InvalidWrongType:      {txn.ReasonWrongType, "is_fraud"},
	InvalidBadTimestamp:   {txn.ReasonInvalidValue, "event_time"},
}

// MissingFields are the required fields a missing_field event may lack.
var MissingFields = []string{"currency", "type", "status", "channel", "country", "source"}

var badCurrencies = []string{"EUX", "eur", "EURO", "US$", "XYZ"}

// appendInvalid writes a known-bad variant of the last transaction, under a
// fresh id. It does not touch balances.
func (m *Model) appendInvalid(b []byte) ([]byte, Event) {
	kind := m.invKinds[m.r.IntN(len(m.invKinds))]
	ev := m.lastEvent
	ev.Injected, ev.Invalid, ev.BadField = InjInvalid, kind, InvalidTruth[kind].Field
	m.setID()
	t := m.tx
	switch kind {
	case InvalidBadCurrency:
		t.Currency = badCurrencies[m.r.IntN(len(badCurrencies))]
	case InvalidNegativeAmount:
		t.Amount = -t.Amount
	}
	m.scratch = t.AppendJSON(m.scratch[:0])
	s := m.scratch
	switch kind {
	case InvalidMalformedJSON:
		// Any strict prefix of an object is malformed.
		return append(b, s[:1+m.r.IntN(len(s)-1)]...), ev
	case InvalidMissingField:
		f := MissingFields[m.r.IntN(len(MissingFields))]
		ev.BadField = f
		key := []byte(`,"` + f + `":"`)
		i := bytes.Index(s, key)
		j := i + len(key) + bytes.IndexByte(s[i+len(key):], '"') + 1
		b = append(b, s[:i]...)
		return append(b, s[j:]...), ev
	case InvalidUTF8:
		i := bytes.Index(s, []byte(`"account_id":"`)) + len(`"account_id":"`)
		start := len(b)
		b = append(b, s...)
		b[start+i+m.r.IntN(len(t.AccountID))] = 0xff
		return b, ev
	case InvalidWrongType:
		i := bytes.Index(s, []byte(`"is_fraud":`)) + len(`"is_fraud":`)
		j := i + bytes.IndexAny(s[i:], ",}")
		b = append(b, s[:i]...)
		b = append(b, `"no"`...)
		return append(b, s[j:]...), ev
	case InvalidBadTimestamp:
		i := bytes.Index(s, []byte(`"event_time":"`)) + len(`"event_time":"`)
		start := len(b)
		b = append(b, s...)
		// Same length, impossible month, day and hour.
		copy(b[start+i:], "2025-13-45T99")
		return b, ev
	}
	return append(b, s...), ev
}
