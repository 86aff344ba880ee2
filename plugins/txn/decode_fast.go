package txn

import (
	"encoding/binary"
	"math/bits"
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

// fastField returns the field index of a key, or -1. It dispatches on
// the length and a distinguishing byte, then compares once: a string
// switch compares the key with several candidates.
func fastField(key []byte) int {
	var f int
	switch len(key) {
	case 4:
		f = fType
	case 6:
		switch key[0] {
		case 'a':
			f = fAmount
		case 's':
			if len(key) > 1 && key[1] == 't' {
				f = fStatus
			} else {
				f = fSource
			}
		default:
			return -1
		}
	case 7:
		if key[1] == 'h' {
			f = fChannel
		} else {
			f = fCountry
		}
	case 8:
		if key[0] == 'c' {
			f = fCurrency
		} else {
			f = fIsFraud
		}
	case 10:
		if key[0] == 'e' {
			f = fEventTime
		} else {
			f = fAccountID
		}
	case 11:
		f = fMerchantID
	case 13:
		f = fBalanceAfter
	case 14:
		if key[0] == 't' {
			f = fTransactionID
		} else {
			f = fFraudScenario
		}
	case 15:
		f = fCounterpartyID
	case 16:
		f = fCardFingerprint
	case 17:
		f = fMerchantCategory
	default:
		return -1
	}
	if string(key) != fieldNames[f] {
		return -1
	}
	return f
}

// fieldNames are the wire keys by field index.
var fieldNames = [nFields]string{
	fTransactionID:    "transaction_id",
	fEventTime:        "event_time",
	fAccountID:        "account_id",
	fCounterpartyID:   "counterparty_id",
	fMerchantID:       "merchant_id",
	fMerchantCategory: "merchant_category",
	fAmount:           "amount",
	fCurrency:         "currency",
	fType:             "type",
	fStatus:           "status",
	fChannel:          "channel",
	fCountry:          "country",
	fCardFingerprint:  "card_fingerprint",
	fBalanceAfter:     "balance_after",
	fIsFraud:          "is_fraud",
	fFraudScenario:    "fraud_scenario",
	fSource:           "source",
}

// keyColon holds each key as it starts a member: quoted, then a colon.
var keyColon = func() (k [nFields]string) {
	for f, name := range fieldNames {
		k[f] = `"` + name + `":`
	}
	return
}()

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

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// scanString returns the end of the string whose opening quote is at i-1
// (the index of its closing quote), or -1 for an escape, a control
// character or no end: cases left to the reference. hi has a top bit set
// if a byte of the string (or one of the up to seven after it) is not
// ASCII. Eight bytes are screened at a time: the lowest byte flagged as a
// quote, a backslash or a control character is exactly the first one (a
// borrow only ever spills above a true match).
func scanString(b []byte, i int) (end int, hi uint64) {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		hi |= x
		q := x ^ ('"' * lsb8)
		bs := x ^ ('\\' * lsb8)
		m := ((q - lsb8) &^ q) | ((bs - lsb8) &^ bs) | ((x - 0x20*lsb8) &^ x)
		if m &= msb8; m != 0 {
			j := i + bits.TrailingZeros64(m)>>3
			if b[j] == '"' {
				return j, hi
			}
			return -1, hi
		}
	}
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i, hi
		case c == '\\' || c < 0x20:
			return -1, hi
		case c >= 0x80:
			hi |= msb8
		}
	}
	return -1, hi
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
func decodeFast(data []byte, t *Transaction) bool { return decodeFastMode(data, t, false) }

// decodeFastMode is decodeFast; with share, t's strings that are not
// canonical constants point into data instead of a copy of it.
func decodeFastMode(data []byte, t *Transaction, share bool) bool {
	var (
		start, end [nFields]int
		quoted     [nFields]bool
		seen       uint32
		isFraud    bool
		hi         uint64 // top bits: a string byte may be non-ASCII
	)
	n := len(data)
	i := skipWS(data, 0)
	if i >= n || data[i] != '{' {
		return false
	}
	i = skipWS(data, i+1)
	next := 0 // keys usually come in field order, as AppendJSON writes them
	for {
		if i >= n || data[i] != '"' {
			return false
		}
		f := -1
		for k := next; k < nFields; k++ {
			if p := keyColon[k]; n-i >= len(p) && string(data[i:i+len(p)]) == p {
				f, next, i = k, k+1, i+len(p)
				break
			}
		}
		if f < 0 {
			ke, h := scanString(data, i+1)
			if ke < 0 {
				return false
			}
			hi |= h
			if f = fastField(data[i+1 : ke]); f < 0 {
				return false
			}
			i = ke + 1
			if i < n && data[i] == ':' {
				i++
			} else {
				if i = skipWS(data, i); i >= n || data[i] != ':' {
					return false
				}
				i++
			}
		}
		if seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		if i < n && isWS(data[i]) {
			i = skipWS(data, i)
		}
		if i >= n {
			return false
		}
		switch f {
		case fIsFraud:
			switch {
			case n-i >= 4 && string(data[i:i+4]) == "true":
				isFraud, i = true, i+4
			case n-i >= 5 && string(data[i:i+5]) == "false":
				isFraud, i = false, i+5
			default:
				return false
			}
		case fAmount, fBalanceAfter:
			if data[i] == '"' {
				e, h := scanString(data, i+1)
				if e < 0 {
					return false
				}
				hi |= h
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
			e, h := scanString(data, i+1)
			if e < 0 {
				return false
			}
			hi |= h
			start[f], end[f] = i+1, e
			i = e + 1
		}
		if i < n && data[i] == ',' {
			i++
			if i < n && data[i] != '"' {
				i = skipWS(data, i)
			}
			continue
		}
		i = skipWS(data, i)
		if i >= n {
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
	if skipWS(data, i+1) != n || seen&fastRequired != fastRequired {
		return false
	}
	// Outside its strings, a message that parsed is ASCII: only a string
	// can make it invalid UTF-8, which the reference reports first.
	if hi&msb8 != 0 && !utf8.Valid(data) {
		return false
	}

	et, ok := parseTime(data[start[fEventTime]:end[fEventTime]])
	if !ok {
		return false
	}
	amount, ok := parseAmount(data, start[fAmount], end[fAmount], quoted[fAmount])
	if !ok {
		return false
	}
	balance, ok := parseAmount(data, start[fBalanceAfter], end[fBalanceAfter], quoted[fBalanceAfter])
	if !ok {
		return false
	}

	// Strings: the low-cardinality ones canonical constants, the rest,
	// transaction_id included, copied into one allocation a row (or, with
	// share, left in data). parquet_lake's sets of recent ids hold 16-byte
	// keys, not the id strings, so no set keeps a row's strings alive.
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
	var copies uint32
	total := 0
	for f := range dst {
		if dst[f] == nil || seen&(1<<f) == 0 {
			continue
		}
		if s, ok := internField(f, data[start[f]:end[f]]); ok {
			*dst[f] = s
			continue
		}
		if share {
			*dst[f] = view(data, start[f], end[f])
			continue
		}
		copies |= 1 << f
		total += end[f] - start[f]
	}
	if total > 0 {
		buf := make([]byte, 0, total)
		for f := range dst {
			if copies&(1<<f) != 0 {
				s := len(buf)
				buf = append(buf, data[start[f]:end[f]]...)
				*dst[f] = unsafe.String(unsafe.SliceData(buf[s:]), end[f]-start[f])
			}
		}
	}
	t.EventTime = et
	t.Amount = amount
	t.BalanceAfter = balance
	t.IsFraud = isFraud
	return true
}

// internField returns the canonical string of a value of field f, if it
// has one: a length check and one comparison for the enumerations.
func internField(f int, b []byte) (string, bool) {
	switch f {
	case fCurrency:
		if len(b) == 3 {
			if i := codeIndex(b); i >= 0 && currencyCodes[i] != "" {
				return currencyCodes[i], true
			}
		}
		return "", false
	case fCountry:
		if len(b) == 2 {
			if i := codeIndex(b); i >= 0 && countryCodes[i] != "" {
				return countryCodes[i], true
			}
		}
		return "", false
	case fMerchantCategory:
		if len(b) == 4 && isDigits(b) {
			k := int(b[0]-'0')*1000 + int(b[1]-'0')*100 + int(b[2]-'0')*10 + int(b[3]-'0')
			return mccCodes[4*k : 4*k+4], true
		}
		return "", false
	case fType:
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
		case TypeFee:
			return TypeFee, true
		}
	case fStatus:
		switch string(b) {
		case StatusPending:
			return StatusPending, true
		case StatusCompleted:
			return StatusCompleted, true
		case StatusDeclined:
			return StatusDeclined, true
		case StatusReversed:
			return StatusReversed, true
		}
	case fChannel:
		switch string(b) {
		case ChannelPOS:
			return ChannelPOS, true
		case ChannelEcommerce:
			return ChannelEcommerce, true
		case ChannelATM:
			return ChannelATM, true
		case ChannelBankTransfer:
			return ChannelBankTransfer, true
		case ChannelMobile:
			return ChannelMobile, true
		}
	case fFraudScenario:
		switch string(b) {
		case FraudCardTesting:
			return FraudCardTesting, true
		case FraudAccountTakeover:
			return FraudAccountTakeover, true
		case FraudCompromisedMerchant:
			return FraudCompromisedMerchant, true
		}
	case fSource:
		if string(b) == "generator" {
			return "generator", true
		}
	}
	return "", false
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// mccCodes holds "0000" to "9999", four bytes each: a merchant category
// code's canonical string is a slice of it.
var mccCodes = func() string {
	b := make([]byte, 0, 40000)
	for k := 0; k < 10000; k++ {
		b = append(b, byte('0'+k/1000), byte('0'+k/100%10), byte('0'+k/10%10), byte('0'+k%10))
	}
	return string(b)
}()

// parseTime parses an event_time as the reference does
// (time.Parse(time.RFC3339Nano), to UTC, truncated to microseconds). The
// canonical form, YYYY-MM-DDTHH:MM:SS[.fraction]Z, is parsed here; any
// other goes to time.Parse.
func parseTime(b []byte) (time.Time, bool) {
	if t, ok := parseTimeUTC(b); ok {
		return t, true
	}
	et, err := time.Parse(time.RFC3339Nano, view(b, 0, len(b)))
	if err != nil {
		return time.Time{}, false
	}
	return et.UTC().Truncate(time.Microsecond), true
}

// parseTimeUTC parses YYYY-MM-DDTHH:MM:SS[.f]Z (1 to 9 fraction digits,
// years 0001-9999) with time.Parse's range checks, truncated to
// microseconds; false means "not this form", not "invalid".
func parseTimeUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	d2 := func(i int) int {
		c0, c1 := b[i]-'0', b[i+1]-'0'
		if c0 > 9 || c1 > 9 {
			return -1
		}
		return int(c0)*10 + int(c1)
	}
	yh, yl, mon, day, hh, mm, ss := d2(0), d2(2), d2(5), d2(8), d2(11), d2(14), d2(17)
	if yh < 0 || yl < 0 || mon < 1 || mon > 12 || day < 1 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59 {
		return time.Time{}, false
	}
	year := yh*100 + yl
	if year < 1 || day > daysIn(mon, year) {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		scale := 1_000_000_000
		for _, c := range frac[1:] {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			scale /= 10
			nsec += int(c-'0') * scale
		}
	}
	nsec -= nsec % 1000
	days := daysFromCivil(year, mon, day)
	return time.Unix(days*86400+int64(hh*3600+mm*60+ss), int64(nsec)).UTC(), true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d (Hinnant),
// for years 1 and later.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseAmount parses an amount as ParseAmount does. A plain JSON number
// with at most 14 digits and 4 decimals, the common case, is parsed here
// (it cannot exceed MaxAmount); anything else goes to ParseAmount.
func parseAmount(data []byte, s, e int, quoted bool) (Amount, bool) {
	if !quoted && e-s <= 16 {
		i := s
		neg := data[i] == '-'
		if neg {
			i++
		}
		var mant int64
		digits, scale := 0, -1
		for ; i < e; i++ {
			c := data[i]
			if c == '.' && scale < 0 {
				scale = 0
				continue
			}
			if c < '0' || c > '9' {
				break
			}
			mant = mant*10 + int64(c-'0')
			digits++
			if scale >= 0 {
				scale++
			}
		}
		if i == e && digits > 0 && digits <= 14 && scale <= AmountScale {
			scale = max(scale, 0)
			for ; scale < AmountScale; scale++ {
				mant *= 10
			}
			if neg {
				mant = -mant
			}
			return Amount(mant), true
		}
	}
	a, err := ParseAmount(view(data, s, e))
	return a, err == nil
}
