package generator

import (
	"slices"
	"time"
	"unsafe"

	"github.com/trstream/trstream/plugins/txn"
)

// appendWire appends m.tx in the wire form: the bytes txn's AppendJSON
// writes (TestWireMatchesAppendJSON), faster, because the model knows more
// than a general encoder. Every string it emits is plain ASCII (ids it
// makes, constants, and codes Config.Validate checked), so none is screened
// for escaping; the transaction id and event time have fixed lengths, so the
// start of every message is one fixed-size store with the two written into
// it; and the event time's date and hour are formatted once per simulated
// hour.
func (m *Model) appendWire(b []byte) []byte {
	t := &m.tx
	us := t.EventTime.UnixMicro()
	if len(t.TransactionID) != 36 || !m.hourOf(us) {
		return t.AppendJSON(b)
	}
	// Room for everything below, so that no append reallocates: the fixed
	// parts, two amounts and the variable strings.
	need := wireFixedMax + len(t.AccountID) + len(t.CounterpartyID) + len(t.MerchantID) +
		len(t.MerchantCategory) + len(t.Currency) + len(t.Type) + len(t.Status) + len(t.Channel) +
		len(t.Country) + len(t.CardFingerprint) + len(t.FraudScenario) + len(t.Source)
	b = slices.Grow(b, need)
	n := len(b)
	h := (*[headLen]byte)(b[n : n+headLen])
	*h = wireHead
	*(*[36]byte)(h[headID:]) = *(*[36]byte)(unsafe.Pointer(unsafe.StringData(t.TransactionID)))
	m.putTime((*[27]byte)(h[headTime:]), us)
	b = b[:n+headLen]
	b = append(b, t.AccountID...)
	if t.CounterpartyID != "" {
		b = append(b, `","counterparty_id":"`...)
		b = append(b, t.CounterpartyID...)
	}
	if t.MerchantID != "" {
		b = append(b, `","merchant_id":"`...)
		b = append(b, t.MerchantID...)
	}
	if t.MerchantCategory != "" {
		b = append(b, `","merchant_category":"`...)
		b = append(b, t.MerchantCategory...)
	}
	b = append(b, `","amount":`...)
	b = t.Amount.AppendText(b)
	b = append(b, `,"currency":"`...)
	b = append(b, t.Currency...)
	b = append(b, `","type":"`...)
	b = append(b, t.Type...)
	b = append(b, `","status":"`...)
	b = append(b, t.Status...)
	b = append(b, `","channel":"`...)
	b = append(b, t.Channel...)
	b = append(b, `","country":"`...)
	b = append(b, t.Country...)
	if t.CardFingerprint != "" {
		b = append(b, `","card_fingerprint":"`...)
		b = append(b, t.CardFingerprint...)
	}
	b = append(b, `","balance_after":`...)
	b = t.BalanceAfter.AppendText(b)
	if t.IsFraud {
		b = append(b, `,"is_fraud":true`...)
	} else {
		b = append(b, `,"is_fraud":false`...)
	}
	if t.FraudScenario != "" {
		b = append(b, `,"fraud_scenario":"`...)
		b = append(b, t.FraudScenario...)
		b = append(b, '"')
	}
	b = append(b, `,"source":"`...)
	b = append(b, t.Source...)
	return append(b, `"}`...)
}

// wireHead is the start of every message, with placeholders for the
// transaction id and the event time.
var wireHead = func() (h [headLen]byte) {
	copy(h[:], `{"transaction_id":"`+
		"________-____-____-____-____________"+
		`","event_time":"`+
		"____-__-__T__:__:__.______Z"+
		`","account_id":"`)
	return
}()

const (
	headID   = len(`{"transaction_id":"`)
	headTime = headID + 36 + len(`","event_time":"`)
	headLen  = headTime + 27 + len(`","account_id":"`)

	// wireFixedMax bounds what appendWire writes besides the variable
	// strings: the head, every key, and two amounts of at most 21 bytes.
	wireFixedMax = 512
)

// hourOf makes the hour of unix micros us the cached one; false if the time
// is not one the cache can format (before 1970 or after 9999).
func (m *Model) hourOf(us int64) bool {
	h := us / usPerHour
	if us >= 0 && h == m.hour {
		return true
	}
	if us < 0 {
		return false
	}
	t := time.UnixMicro(us).UTC()
	if t.Year() > 9999 {
		return false
	}
	// Once an hour: the layout's first 14 bytes, "2006-01-02T15:".
	var buf [32]byte
	copy(m.hourText[:], t.AppendFormat(buf[:0], txn.TimeLayout))
	m.hour = h
	return true
}

// putTime writes us, in the cached hour, in txn.TimeLayout.
func (m *Model) putTime(dst *[27]byte, us int64) {
	*(*[14]byte)(dst[:]) = m.hourText
	rem := us - m.hour*usPerHour
	sec := rem / 1e6
	micro := rem - sec*1e6
	put2(dst[14:], int(sec/60))
	dst[16] = ':'
	put2(dst[17:], int(sec%60))
	dst[19] = '.'
	put2(dst[20:], int(micro/10000))
	put2(dst[22:], int(micro/100%100))
	put2(dst[24:], int(micro%100))
	dst[26] = 'Z'
}

// put2 writes v, 0 to 99, as two digits.
func put2(dst []byte, v int) {
	_ = dst[1]
	dst[0], dst[1] = byte('0'+v/10), byte('0'+v%10)
}
