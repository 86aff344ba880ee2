package generator

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/trstream/trstream/plugins/txn"
)

// Time modes.
const (
	TimeModeRealtime  = "realtime"
	TimeModeSimulated = "simulated"
)

// Category is one merchant category: its ISO 18245 code, how common its
// merchants are, and the lognormal distribution of its payment amounts in
// EUR (Mean is the arithmetic mean, Sigma the log-space standard deviation).
type Category struct {
	MCC            string
	Name           string
	Weight         float64
	Mean           float64
	Sigma          float64
	EcommerceShare float64
}

// Country is one home country of accounts and merchants, with the currency
// its accounts are held in. EURRate is units of Currency per EUR; zero means
// the built-in rate.
type Country struct {
	Code     string
	Currency string
	Weight   float64
	EURRate  float64
}

// TypeWeights are the relative odds of the transaction types an account
// chooses on each arrival. Salary deposits and the credit side of transfers
// between accounts come on top, driven by schedules.
type TypeWeights struct {
	Payment    float64
	Withdrawal float64
	Transfer   float64
	Refund     float64
	Fee        float64
	Deposit    float64
}

// Inject configures known-bad events mixed into the stream.
type Inject struct {
	DuplicateRate float64
	LateRate      float64
	LateBy        time.Duration
	InvalidRate   float64
	InvalidKinds  []string
}

// Config is the whole generator model configuration. DefaultConfig gives the
// defaults of the transaction_generator input.
type Config struct {
	Seed               int64
	Accounts           int
	Merchants          int
	DailyTransactions  float64
	TimeMode           string
	StartTime          time.Time
	FraudRate          float64
	FraudScenarios     []string
	Categories         []Category
	Countries          []Country
	HourWeights        []float64
	WeekendHourWeights []float64
	DayWeights         []float64
	TypeWeights        TypeWeights
	Inject             Inject
	ShardIndex         int
	ShardCount         int
}

// DefaultCategories are ten common merchant categories with amount
// distributions in EUR roughly matching European card-spend statistics.
var DefaultCategories = []Category{
	{MCC: "5411", Name: "grocery", Weight: 30, Mean: 38, Sigma: 0.8, EcommerceShare: 0.08},
	{MCC: "5812", Name: "restaurants", Weight: 18, Mean: 32, Sigma: 0.7, EcommerceShare: 0.10},
	{MCC: "5541", Name: "fuel", Weight: 10, Mean: 55, Sigma: 0.4, EcommerceShare: 0},
	{MCC: "5999", Name: "retail", Weight: 12, Mean: 48, Sigma: 1.0, EcommerceShare: 0.45},
	{MCC: "4111", Name: "transport", Weight: 9, Mean: 12, Sigma: 0.9, EcommerceShare: 0.35},
	{MCC: "5732", Name: "electronics", Weight: 4, Mean: 220, Sigma: 1.1, EcommerceShare: 0.6},
	{MCC: "7011", Name: "hotels", Weight: 2, Mean: 260, Sigma: 0.8, EcommerceShare: 0.7},
	{MCC: "4814", Name: "telecom", Weight: 4, Mean: 35, Sigma: 0.5, EcommerceShare: 0.8},
	{MCC: "5912", Name: "pharmacy", Weight: 6, Mean: 22, Sigma: 0.7, EcommerceShare: 0.15},
	{MCC: "5311", Name: "department_stores", Weight: 5, Mean: 75, Sigma: 0.9, EcommerceShare: 0.3},
}

// DefaultCountries is an EUR-centric European mix.
var DefaultCountries = []Country{
	{Code: "DE", Currency: "EUR", Weight: 18}, {Code: "FR", Currency: "EUR", Weight: 15},
	{Code: "IT", Currency: "EUR", Weight: 12}, {Code: "ES", Currency: "EUR", Weight: 10},
	{Code: "NL", Currency: "EUR", Weight: 6}, {Code: "BE", Currency: "EUR", Weight: 3},
	{Code: "AT", Currency: "EUR", Weight: 3}, {Code: "PT", Currency: "EUR", Weight: 2},
	{Code: "IE", Currency: "EUR", Weight: 2}, {Code: "FI", Currency: "EUR", Weight: 1.5},
	{Code: "GB", Currency: "GBP", Weight: 12}, {Code: "PL", Currency: "PLN", Weight: 6},
	{Code: "SE", Currency: "SEK", Weight: 3}, {Code: "CH", Currency: "CHF", Weight: 3},
	{Code: "DK", Currency: "DKK", Weight: 2}, {Code: "CZ", Currency: "CZK", Weight: 2},
}

// BuiltinEURRates are units of currency per EUR used when a country entry
// gives no eur_rate.
var BuiltinEURRates = map[string]float64{
	"EUR": 1, "GBP": 0.85, "PLN": 4.3, "SEK": 11.5, "CHF": 0.95, "DKK": 7.46, "CZK": 25,
	"NOK": 11.6, "HUF": 395, "RON": 4.97, "BGN": 1.96, "USD": 1.08, "JPY": 160, "CAD": 1.47,
	"AUD": 1.65, "ISK": 150, "TRY": 35,
}

// DefaultHourWeights is the weekday intensity by hour of day (UTC): a night
// trough, a lunch peak and an evening peak.
var DefaultHourWeights = []float64{
	0.35, 0.2, 0.12, 0.08, 0.08, 0.15, 0.4, 0.8, 1.1, 1.2, 1.3, 1.5,
	1.9, 1.7, 1.3, 1.3, 1.4, 1.7, 1.9, 1.8, 1.5, 1.1, 0.8, 0.55,
}

// DefaultWeekendHourWeights is the Saturday/Sunday curve: later mornings, a
// broad afternoon, a later night.
var DefaultWeekendHourWeights = []float64{
	0.55, 0.4, 0.25, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.2, 1.5,
	1.7, 1.7, 1.6, 1.5, 1.5, 1.6, 1.7, 1.6, 1.4, 1.1, 0.9, 0.7,
}

// DefaultDayWeights is the intensity by day of week, Monday first.
var DefaultDayWeights = []float64{0.95, 0.95, 1.0, 1.0, 1.15, 1.1, 0.85}

// InvalidKinds lists the known-bad event kinds the generator can inject.
var InvalidKinds = []string{
	InvalidMalformedJSON, InvalidMissingField, InvalidBadCurrency, InvalidNegativeAmount,
	InvalidUTF8, InvalidWrongType, InvalidBadTimestamp,
}

// Invalid event kinds.
const (
	InvalidMalformedJSON  = "malformed_json"
	InvalidMissingField   = "missing_field"
	InvalidBadCurrency    = "bad_currency"
	InvalidNegativeAmount = "negative_amount"
	InvalidUTF8           = "invalid_utf8"
	InvalidWrongType      = "wrong_type"
	InvalidBadTimestamp   = "bad_timestamp"
)

// DefaultConfig returns the defaults of every field.
func DefaultConfig() Config {
	return Config{
		Seed:               1,
		Accounts:           10000,
		Merchants:          1000,
		DailyTransactions:  2,
		TimeMode:           TimeModeSimulated,
		StartTime:          time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC),
		FraudRate:          0.005,
		FraudScenarios:     slices.Clone(txn.FraudScenarios),
		Categories:         slices.Clone(DefaultCategories),
		Countries:          slices.Clone(DefaultCountries),
		HourWeights:        slices.Clone(DefaultHourWeights),
		WeekendHourWeights: slices.Clone(DefaultWeekendHourWeights),
		DayWeights:         slices.Clone(DefaultDayWeights),
		TypeWeights: TypeWeights{
			Payment: 0.84, Withdrawal: 0.05, Transfer: 0.05, Refund: 0.02, Fee: 0.01, Deposit: 0.03,
		},
		Inject:     Inject{LateBy: 10 * time.Minute, InvalidKinds: slices.Clone(InvalidKinds)},
		ShardIndex: 0,
		ShardCount: 1,
	}
}

func rate01(field string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return fmt.Errorf("%s must be between 0 and 1, got %v", field, v)
	}
	return nil
}

func positiveWeights(field string, ws []float64, n int) error {
	if n > 0 && len(ws) != n {
		return fmt.Errorf("%s must have %d entries, got %d", field, n, len(ws))
	}
	sum := 0.0
	for i, w := range ws {
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("%s[%d] must be a finite number >= 0, got %v", field, i, w)
		}
		sum += w
	}
	if sum <= 0 {
		return fmt.Errorf("%s must have at least one weight > 0", field)
	}
	return nil
}

// Validate checks the configuration; every error names the field.
func (c *Config) Validate() error {
	switch {
	case c.Accounts < 1:
		return fmt.Errorf("accounts must be >= 1, got %d", c.Accounts)
	case c.Merchants < 1:
		return fmt.Errorf("merchants must be >= 1, got %d", c.Merchants)
	case c.ShardCount < 1:
		return fmt.Errorf("shard_count must be >= 1, got %d", c.ShardCount)
	case c.ShardCount > 1<<20:
		return fmt.Errorf("shard_count must be <= %d, got %d", 1<<20, c.ShardCount)
	case c.ShardIndex < 0 || c.ShardIndex >= c.ShardCount:
		return fmt.Errorf("shard_index must be in [0, shard_count=%d), got %d", c.ShardCount, c.ShardIndex)
	case c.Accounts < c.ShardCount:
		return fmt.Errorf("accounts (%d) must be >= shard_count (%d)", c.Accounts, c.ShardCount)
	case c.Accounts/c.ShardCount > 1<<31-2:
		return fmt.Errorf("accounts must be < 2^31 per shard, got %d", c.Accounts)
	case !(c.DailyTransactions > 0) || math.IsInf(c.DailyTransactions, 0):
		return fmt.Errorf("daily_transactions must be > 0, got %v", c.DailyTransactions)
	case c.TimeMode != TimeModeRealtime && c.TimeMode != TimeModeSimulated:
		return fmt.Errorf("time_mode must be %q or %q, got %q", TimeModeRealtime, TimeModeSimulated, c.TimeMode)
	case c.StartTime.Before(txn.DefaultLimits.MinTime):
		return fmt.Errorf("start_time must not be before %s, got %s", txn.DefaultLimits.MinTime.Format(time.RFC3339), c.StartTime.Format(time.RFC3339))
	}
	if err := rate01("fraud_rate", c.FraudRate); err != nil {
		return err
	}
	if c.FraudRate >= 0.5 {
		return fmt.Errorf("fraud_rate must be below 0.5, got %v", c.FraudRate)
	}
	for _, s := range c.FraudScenarios {
		if !slices.Contains(txn.FraudScenarios, s) {
			return fmt.Errorf("fraud_scenarios: unknown scenario %q, want one of %v", s, txn.FraudScenarios)
		}
	}
	if c.FraudRate > 0 && len(c.FraudScenarios) == 0 {
		return fmt.Errorf("fraud_scenarios must not be empty when fraud_rate > 0")
	}
	if len(c.Categories) == 0 || len(c.Categories) > 255 {
		return fmt.Errorf("categories must have 1 to 255 entries, got %d", len(c.Categories))
	}
	seen := map[string]bool{}
	cw := make([]float64, len(c.Categories))
	for i, cat := range c.Categories {
		f := fmt.Sprintf("categories[%d]", i)
		switch {
		case !txn.IsMCC(cat.MCC):
			return fmt.Errorf("%s.mcc must be four digits, got %q", f, cat.MCC)
		case seen[cat.MCC]:
			return fmt.Errorf("%s.mcc %q is listed twice", f, cat.MCC)
		case !(cat.Mean >= 0.01) || cat.Mean > 1e6:
			return fmt.Errorf("%s.mean must be between 0.01 and 1000000, got %v", f, cat.Mean)
		case !(cat.Sigma >= 0) || cat.Sigma > 3:
			return fmt.Errorf("%s.sigma must be between 0 and 3, got %v", f, cat.Sigma)
		}
		if err := rate01(f+".ecommerce_share", cat.EcommerceShare); err != nil {
			return err
		}
		seen[cat.MCC] = true
		cw[i] = cat.Weight
	}
	if err := positiveWeights("categories.weight", cw, 0); err != nil {
		return err
	}
	if len(c.Countries) == 0 || len(c.Countries) > 255 {
		return fmt.Errorf("countries must have 1 to 255 entries, got %d", len(c.Countries))
	}
	seen = map[string]bool{}
	kw := make([]float64, len(c.Countries))
	for i, co := range c.Countries {
		f := fmt.Sprintf("countries[%d]", i)
		switch {
		case !txn.IsCountry(co.Code):
			return fmt.Errorf("%s.code must be an ISO 3166-1 alpha-2 code, got %q", f, co.Code)
		case seen[co.Code]:
			return fmt.Errorf("%s.code %q is listed twice", f, co.Code)
		case !txn.IsCurrency(co.Currency):
			return fmt.Errorf("%s.currency must be an ISO 4217 code, got %q", f, co.Currency)
		case co.EURRate < 0 || math.IsNaN(co.EURRate) || math.IsInf(co.EURRate, 0):
			return fmt.Errorf("%s.eur_rate must be >= 0, got %v", f, co.EURRate)
		case co.EURRate == 0 && BuiltinEURRates[co.Currency] == 0:
			return fmt.Errorf("%s.eur_rate is required: no built-in rate for %s", f, co.Currency)
		}
		seen[co.Code] = true
		kw[i] = co.Weight
	}
	if err := positiveWeights("countries.weight", kw, 0); err != nil {
		return err
	}
	if err := positiveWeights("hour_weights", c.HourWeights, 24); err != nil {
		return err
	}
	if err := positiveWeights("weekend_hour_weights", c.WeekendHourWeights, 24); err != nil {
		return err
	}
	if err := positiveWeights("day_weights", c.DayWeights, 7); err != nil {
		return err
	}
	tw := c.TypeWeights
	if err := positiveWeights("type_weights", []float64{tw.Payment, tw.Withdrawal, tw.Transfer, tw.Refund, tw.Fee, tw.Deposit}, 0); err != nil {
		return err
	}
	in := c.Inject
	for _, r := range []struct {
		f string
		v float64
	}{{"inject.duplicate_rate", in.DuplicateRate}, {"inject.late_rate", in.LateRate}, {"inject.invalid_rate", in.InvalidRate}} {
		if err := rate01(r.f, r.v); err != nil {
			return err
		}
	}
	if in.DuplicateRate+in.InvalidRate > 0.9 {
		return fmt.Errorf("inject.duplicate_rate + inject.invalid_rate must be <= 0.9, got %v", in.DuplicateRate+in.InvalidRate)
	}
	if in.LateBy < 0 {
		return fmt.Errorf("inject.late_by must be >= 0, got %s", in.LateBy)
	}
	if in.LateRate > 0 && in.LateBy <= 0 {
		return fmt.Errorf("inject.late_by must be > 0 when inject.late_rate > 0")
	}
	for _, k := range in.InvalidKinds {
		if !slices.Contains(InvalidKinds, k) {
			return fmt.Errorf("inject.invalid_kinds: unknown kind %q, want one of %v", k, InvalidKinds)
		}
	}
	if in.InvalidRate > 0 && len(in.InvalidKinds) == 0 {
		return fmt.Errorf("inject.invalid_kinds must not be empty when inject.invalid_rate > 0")
	}
	return nil
}
