package txn

import "strings"

// iso4217 lists the active ISO 4217 alphabetic codes. The minor-unit
// exponent is 2 unless listed in exponents.
const iso4217 = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP " +
	"GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR " +
	"LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP " +
	"PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP " +
	"TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL"

var exponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0,
	"UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// iso3166 lists the ISO 3166-1 alpha-2 country codes.
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

var (
	currencies = setOf(iso4217)
	countries  = setOf(iso3166)
)

func setOf(list string) map[string]struct{} {
	m := make(map[string]struct{})
	for _, c := range strings.Fields(list) {
		m[c] = struct{}{}
	}
	return m
}

// currencyExp holds the exponent of every currency by codeIndex.
var currencyExp = func() (e [26 * 26 * 26]int8) {
	for c := range currencies {
		e[codeIndex(c)] = 2
		if x, ok := exponents[c]; ok {
			e[codeIndex(c)] = int8(x)
		}
	}
	return
}()

// IsCurrency reports whether code is an active ISO 4217 alphabetic code.
func IsCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	i := codeIndex(code)
	return i >= 0 && currencyCodes[i] != ""
}

// CurrencyExponent returns the ISO 4217 minor-unit exponent of code (2 for
// EUR, 0 for JPY, 3 for BHD).
func CurrencyExponent(code string) int {
	if e, ok := exponents[code]; ok {
		return e
	}
	return 2
}

// currencyExponent is CurrencyExponent of a valid currency.
func currencyExponent(code string) int { return int(currencyExp[codeIndex(code)]) }

// IsCountry reports whether code is an ISO 3166-1 alpha-2 code.
func IsCountry(code string) bool {
	if len(code) != 2 {
		return false
	}
	i := codeIndex(code)
	return i >= 0 && countryCodes[i] != ""
}

// IsMCC reports whether code has the form of an ISO 18245 merchant category
// code: exactly four digits.
func IsMCC(code string) bool {
	if len(code) != 4 {
		return false
	}
	for i := 0; i < 4; i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
