package txn

import (
	"errors"
	"fmt"
	"strconv"
)

// AmountScale is the number of decimal places an Amount carries. Four covers
// every ISO 4217 currency (the largest minor unit exponent is 4, for CLF and
// UYW), so one column type holds every currency exactly.
const AmountScale = 4

// amountUnit is 10^AmountScale.
const amountUnit = 10000

// MaxAmount bounds amounts so that sums over billions of rows still fit in a
// DECIMAL(38,4): 10^14 units, one hundred trillion.
const MaxAmount Amount = 100_000_000_000_000 * amountUnit

// Amount is an exact decimal money amount in units of 10^-4. It is never a
// float: on the wire it is a JSON number written as exact decimal text (for
// example 12.5 or 1999.99), in Parquet a DECIMAL(18,4) stored as INT64.
type Amount int64

// AmountFromMinor converts minor units of a currency with the given exponent
// (2 for EUR cents, 0 for JPY) to an Amount.
func AmountFromMinor(minor int64, exponent int) Amount {
	a := Amount(minor)
	for i := exponent; i < AmountScale; i++ {
		a *= 10
	}
	return a
}

// Minor returns the amount in minor units of a currency with the given
// exponent, and whether it was exact.
func (a Amount) Minor(exponent int) (int64, bool) {
	v := int64(a)
	for i := exponent; i < AmountScale; i++ {
		if v%10 != 0 {
			return int64(a), false
		}
		v /= 10
	}
	return v, true
}

// Decimals returns how many decimal places the amount needs (0..4).
func (a Amount) Decimals() int {
	v := int64(a)
	if v < 0 {
		v = -v
	}
	n := AmountScale
	for n > 0 && v%10 == 0 {
		v /= 10
		n--
	}
	return n
}

// String formats the amount as exact decimal text with no trailing zeros
// beyond two places: 12.5 → "12.50", 3 → "3.00", 0.0001 → "0.0001".
func (a Amount) String() string { return string(a.AppendText(nil)) }

// AppendText appends the decimal text of the amount to b: at least two
// decimals, at most four, no trailing zero past the second. Encoders call
// it for every event, so amounts below 100M take a path of two-digit table
// lookups; the rest go through strconv.
func (a Amount) AppendText(b []byte) []byte {
	v := int64(a)
	if v < 0 {
		b = append(b, '-')
		v = -v // the most negative Amount stays negative and takes the slow path
	}
	if v < 0 || v >= 1e8*amountUnit {
		return appendAmountSlow(b, v)
	}
	ip, frac := v/amountUnit, v%amountUnit
	var buf [8]byte
	i := len(buf)
	for ip >= 100 {
		i -= 2
		q := ip / 100
		copy(buf[i:], twoDigits[(ip-q*100)*2:][:2])
		ip = q
	}
	if ip >= 10 {
		i -= 2
		copy(buf[i:], twoDigits[ip*2:][:2])
	} else {
		i--
		buf[i] = byte('0' + ip)
	}
	b = append(b, buf[i:]...)
	hi, lo := frac/100, frac%100
	b = append(b, '.', twoDigits[hi*2], twoDigits[hi*2+1])
	switch {
	case lo == 0:
	case lo%10 == 0:
		b = append(b, byte('0'+lo/10))
	default:
		b = append(b, twoDigits[lo*2], twoDigits[lo*2+1])
	}
	return b
}

// appendAmountSlow is AppendText's general case, for v's magnitude in
// units of 1/amountUnit (the sign is already written).
func appendAmountSlow(b []byte, v int64) []byte {
	u := uint64(v) // |math.MinInt64| fits
	b = strconv.AppendUint(b, u/amountUnit, 10)
	frac := u % amountUnit
	digits := 2
	if frac%100 != 0 {
		digits = 4
		if frac%10 == 0 {
			digits = 3
		}
	}
	b = append(b, '.')
	div := uint64(amountUnit / 10)
	for i := 0; i < digits; i++ {
		b = append(b, byte('0'+frac/div%10))
		div /= 10
	}
	return b
}

// MarshalJSON writes the amount as a JSON number with exact decimal text.
func (a Amount) MarshalJSON() ([]byte, error) { return a.AppendText(nil), nil }

// UnmarshalJSON reads a JSON number or a JSON string of decimal text, exactly.
func (a *Amount) UnmarshalJSON(b []byte) error {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		b = b[1 : len(b)-1]
	}
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

var (
	errAmountSyntax    = errors.New("not a decimal number")
	errAmountPrecision = fmt.Errorf("more than %d decimal places", AmountScale)
	errAmountRange     = errors.New("out of range")
)

// ParseAmount parses decimal text such as "12.34", "-0.5" or "1e3" exactly.
// It refuses more than four decimal places rather than rounding, and refuses
// magnitudes above MaxAmount.
func ParseAmount(s string) (Amount, error) {
	if s == "" {
		return 0, errAmountSyntax
	}
	neg := false
	i := 0
	switch s[0] {
	case '-':
		neg, i = true, 1
	case '+':
		i = 1
	}
	var mant int64
	digits, scale := 0, 0
	seenDot := false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if mant > (1<<62)/10 {
				return 0, errAmountRange
			}
			mant = mant*10 + int64(c-'0')
			digits++
			if seenDot {
				scale++
			}
		case c == '.' && !seenDot:
			seenDot = true
		case c == 'e' || c == 'E':
			exp, err := strconv.Atoi(s[i+1:])
			if err != nil || exp < -40 || exp > 40 {
				return 0, errAmountSyntax
			}
			scale -= exp
			i = len(s)
		default:
			return 0, errAmountSyntax
		}
	}
	if digits == 0 {
		return 0, errAmountSyntax
	}
	for scale > AmountScale {
		if mant%10 != 0 {
			return 0, errAmountPrecision
		}
		mant /= 10
		scale--
	}
	for ; scale < AmountScale; scale++ {
		if mant > int64(MaxAmount) {
			return 0, errAmountRange
		}
		mant *= 10
	}
	if mant > int64(MaxAmount) {
		return 0, errAmountRange
	}
	if neg {
		mant = -mant
	}
	return Amount(mant), nil
}
