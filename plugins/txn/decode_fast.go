package txn

import (
	"time"
	"unicode/utf8"
	"unsafe"
)

// The fast decoder handles the common, canonical subset of the wire form
// without reflection: one flat JSON object whose keys are exactly the
// schema's names (each at most once), whose string values have no escapes,
// whose amounts are JSON numbers or plain strings, and nothing after the
// object but whitespace. For such input it fills a Transaction exactly as
// the reflective decoder (decodeReflect, the reference) does before its final
// validation. Anything else, and any failure (a parse error, a missing
// field, a value the reference would refuse), falls back to decodeReflect,
// so errors and their reasons, fields and texts are the reference's by
// construction.

// Field indexes of the fast decoder.
const (
	fTransactionID = iota
	fEventTime
	fAccountID
	fCounterpartyID
	fMerchantID
	fMerchantCategory
	fAmount
	fCurrency
	fType
	fStatus
	fChannel
	fCountry
	fCardFingerprint
	fBalanceAfter
	fIsFraud
	fFraudScenario
	fSource
	nFields
)

// fastRequired are the fields whose absence is an error of the reference.
const fastRequired = 1<<fTransactionID | 1<<fEventTime | 1<<fAccountID | 1<<fAmount | 1<<fCurrency |
	1<<fType | 1<<fStatus | 1<<fChannel | 1<<fCountry | 1<<fBalanceAfter | 1<<fIsFraud | 1<<fSource

func fastField(key []byte) int {
	switch string(key) {
	case "transaction_id":
		return fTransactionID
	case "event_time":
		return fEventTime
	case "account_id":
		return fAccountID
	case "counterparty_id":
		return fCounterpartyID
	case "merchant_id":
		return fMerchantID
	case "merchant_category":
		return fMerchantCategory
	case "amount":
		return fAmount
	case "currency":
		return fCurrency
	case "type":
		return fType
	case "status":
		return fStatus
	case "channel":
		return fChannel
	case "country":
		return fCountry
	case "card_fingerprint":
		return fCardFingerprint
	case "balance_after":
		return fBalanceAfter
	case "is_fraud":
		return fIsFraud
	case "fraud_scenario":
		return fFraudScenario
	case "source":
		return fSource
	}
	return -1
}

// Canonical strings of the low-cardinality columns, so that decoding them
// allocates nothing and rows share them: ISO codes by their letters, the
// rest by a switch.
var (
	currencyCodes [26 * 26 * 26]string
	countryCodes  [26 * 26]string
)

func init() {
	for c := range currencies {
		currencyCodes[codeIndex(c)] = c
	}
	for c := range countries {
		countryCodes[codeIndex(c)] = c
	}
}

// codeIndex maps 2 or 3 upper-case letters to an index, -1 for anything
// else.
func codeIndex[S string | []byte](s S) int {
	if len(s) < 2 || len(s) > 3 {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 'A' || c > 'Z' {
			return -1
		}
		n = n*26 + int(c-'A')
	}
	return n
}

// intern returns the canonical string of b, if it has one.
func intern(b []byte) (string, bool) {
	switch len(b) {
	case 2:
		if i := codeIndex(b); i >= 0 && countryCodes[i] != "" {
			return countryCodes[i], true
		}
		return "", false
	case 3:
		if i := codeIndex(b); i >= 0 && currencyCodes[i] != "" {
			return currencyCodes[i], true
		}
		switch string(b) {
		case ChannelPOS:
			return ChannelPOS, true
		case ChannelATM:
			return ChannelATM, true
		case TypeFee:
			return TypeFee, true
		}
		return "", false
	}
	switch string(b) {
	case TypePayment:
		return TypePayment, true
	case TypeRefund:
		return TypeRefund, true
	case TypeTransfer:
		return TypeTransfer, true
	case TypeWithdrawal:
		return TypeWithdrawal, true
	case TypeDeposit:
		return TypeDeposit, true
	case StatusPending:
		return StatusPending, true
	case StatusCompleted:
		return StatusCompleted, true
	case StatusDeclined:
		return StatusDeclined, true
	case StatusReversed:
		return StatusReversed, true
	case ChannelEcommerce:
		return ChannelEcommerce, true
	case ChannelBankTransfer:
		return ChannelBankTransfer, true
	case ChannelMobile:
		return ChannelMobile, true
	case FraudCardTesting:
		return FraudCardTesting, true
	case FraudAccountTakeover:
		return FraudAccountTakeover, true
	case FraudCompromisedMerchant:
		return FraudCompromisedMerchant, true
	case "generator":
		return "generator", true
	}
	return "", false
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// scanString returns the end of the string whose opening quote is at i-1
// (the index of its closing quote), or -1 for an escape, a control
// character or no end: cases left to the reference.
func scanString(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i
		case c == '\\' || c < 0x20:
			return -1
		}
	}
	return -1
}

// scanNumber returns the end of the JSON number starting at i, or -1 if it
// is not one.
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	if i >= len(b) {
		return -1
	}
	if b[i] == '0' {
		i++
	} else if !digits() {
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return -1
		}
	}
	return i
}

// view is a string over b[s:e] without copying, for calls that do not keep
// it (time.Parse, ParseAmount: only their errors could, and those are
// dropped).
func view(b []byte, s, e int) string {
	if e <= s {
		return ""
	}
	return unsafe.String(&b[s], e-s)
}

// decodeFast fills t from data if data is in the fast subset and parses
// completely, reporting whether it did; t is then exactly what the
// reference decoder would validate. On false, t is garbage.
func decodeFast(data []byte, t *Transaction) bool {
	if !utf8.Valid(data) {
		return false
	}
	var (
		start, end [nFields]int
		quoted     [nFields]bool
		seen       uint32
		isFraud    bool
	)
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipWS(data, i+1)
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		ke := scanString(data, i+1)
		if ke < 0 {
			return false
		}
		f := fastField(data[i+1 : ke])
		if f < 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		i = skipWS(data, ke+1)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipWS(data, i+1)
		if i >= len(data) {
			return false
		}
		switch f {
		case fIsFraud:
			switch {
			case len(data)-i >= 4 && string(data[i:i+4]) == "true":
				isFraud, i = true, i+4
			case len(data)-i >= 5 && string(data[i:i+5]) == "false":
				isFraud, i = false, i+5
			default:
				return false
			}
		case fAmount, fBalanceAfter:
			if data[i] == '"' {
				e := scanString(data, i+1)
				if e < 0 {
					return false
				}
				start[f], end[f], quoted[f] = i+1, e, true
				i = e + 1
				break
			}
			e := scanNumber(data, i)
			if e < 0 {
				return false
			}
			start[f], end[f] = i, e
			i = e
		default:
			if data[i] != '"' {
				return false
			}
			e := scanString(data, i+1)
			if e < 0 {
				return false
			}
			start[f], end[f] = i+1, e
			i = e + 1
		}
		i = skipWS(data, i)
		if i >= len(data) {
			return false
		}
		if data[i] == '}' {
			break
		}
		if data[i] != ',' {
			return false
		}
		i = skipWS(data, i+1)
	}
	if skipWS(data, i+1) != len(data) || seen&fastRequired != fastRequired {
		return false
	}

	et, err := time.Parse(time.RFC3339Nano, view(data, start[fEventTime], end[fEventTime]))
	if err != nil {
		return false
	}
	amount, err := ParseAmount(view(data, start[fAmount], end[fAmount]))
	if err != nil {
		return false
	}
	balance, err := ParseAmount(view(data, start[fBalanceAfter], end[fBalanceAfter]))
	if err != nil {
		return false
	}

	// Strings: the low-cardinality ones interned, the rest, transaction_id
	// included, copied into one allocation a row (parquet_lake's sets of
	// recent ids hold 16-byte keys, not the id strings, so no set keeps a
	// row's strings alive).
	var dst [nFields]*string
	dst[fTransactionID] = &t.TransactionID
	dst[fAccountID] = &t.AccountID
	dst[fCounterpartyID] = &t.CounterpartyID
	dst[fMerchantID] = &t.MerchantID
	dst[fMerchantCategory] = &t.MerchantCategory
	dst[fCurrency] = &t.Currency
	dst[fType] = &t.Type
	dst[fStatus] = &t.Status
	dst[fChannel] = &t.Channel
	dst[fCountry] = &t.Country
	dst[fCardFingerprint] = &t.CardFingerprint
	dst[fFraudScenario] = &t.FraudScenario
	dst[fSource] = &t.Source
	*t = Transaction{}
	var copies [nFields]bool
	total := 0
	for f := range dst {
		if dst[f] == nil || seen&(1<<f) == 0 {
			continue
		}
		if s, ok := intern(data[start[f]:end[f]]); ok {
			*dst[f] = s
			continue
		}
		copies[f] = true
		total += end[f] - start[f]
	}
	if total > 0 {
		buf := make([]byte, 0, total)
		for f := range dst {
			if copies[f] {
				s := len(buf)
				buf = append(buf, data[start[f]:end[f]]...)
				*dst[f] = unsafe.String(unsafe.SliceData(buf[s:]), end[f]-start[f])
			}
		}
	}
	t.EventTime = et.UTC().Truncate(time.Microsecond)
	t.Amount = amount
	t.BalanceAfter = balance
	t.IsFraud = isFraud
	return true
}
