package txn

import "time"

// Transaction is one financial transaction event. The struct tags define the
// wire (JSON) and lake (Parquet) forms; both use the same snake_case names.
//
// Optional string columns are nullable in Parquet: the empty string is
// written as NULL.
type Transaction struct {
	// TransactionID is a UUID in canonical lower-case form. It is the
	// idempotency key: two events with the same id are the same transaction.
	TransactionID string `json:"transaction_id" parquet:"transaction_id"`
	// EventTime is when the transaction happened, UTC, microsecond precision.
	EventTime time.Time `json:"event_time" parquet:"event_time,timestamp(microsecond)"`
	// AccountID is the account that owns the transaction; the Kafka key.
	AccountID string `json:"account_id" parquet:"account_id"`
	// CounterpartyID is the other account of a transfer, if any.
	CounterpartyID string `json:"counterparty_id,omitempty" parquet:"counterparty_id,optional"`
	// MerchantID is the merchant of a card payment or refund, if any.
	MerchantID string `json:"merchant_id,omitempty" parquet:"merchant_id,optional"`
	// MerchantCategory is the ISO 18245 merchant category code (4 digits).
	MerchantCategory string `json:"merchant_category,omitempty" parquet:"merchant_category,optional"`
	// Amount is the positive amount moved, exact, in Currency.
	Amount Amount `json:"amount" parquet:"amount,decimal(4:18)"`
	// Currency is the ISO 4217 alphabetic code.
	Currency string `json:"currency" parquet:"currency"`
	// Type is what kind of movement this is (see Types).
	Type string `json:"type" parquet:"type"`
	// Status is the outcome (see Statuses).
	Status string `json:"status" parquet:"status"`
	// Channel is how the transaction was made (see Channels).
	Channel string `json:"channel" parquet:"channel"`
	// Country is the ISO 3166-1 alpha-2 country where it happened.
	Country string `json:"country" parquet:"country"`
	// CardFingerprint is a keyed hash of the card, never the card number.
	CardFingerprint string `json:"card_fingerprint,omitempty" parquet:"card_fingerprint,optional"`
	// BalanceAfter is the account balance after the transaction, exact.
	BalanceAfter Amount `json:"balance_after" parquet:"balance_after,decimal(4:18)"`
	// IsFraud labels synthetic data: true for injected fraud.
	IsFraud bool `json:"is_fraud" parquet:"is_fraud"`
	// FraudScenario names the injected fraud pattern when IsFraud is true.
	FraudScenario string `json:"fraud_scenario,omitempty" parquet:"fraud_scenario,optional"`
	// Source names the producer: generator, stripe, revolut, webhook...
	Source string `json:"source" parquet:"source"`
}

// Transaction types.
const (
	TypePayment    = "payment"
	TypeRefund     = "refund"
	TypeTransfer   = "transfer"
	TypeWithdrawal = "withdrawal"
	TypeDeposit    = "deposit"
	TypeFee        = "fee"
)

// Types lists every valid Type.
var Types = []string{TypePayment, TypeRefund, TypeTransfer, TypeWithdrawal, TypeDeposit, TypeFee}

// Transaction statuses.
const (
	StatusPending   = "pending"
	StatusCompleted = "completed"
	StatusDeclined  = "declined"
	StatusReversed  = "reversed"
)

// Statuses lists every valid Status.
var Statuses = []string{StatusPending, StatusCompleted, StatusDeclined, StatusReversed}

// Channels.
const (
	ChannelPOS          = "pos"
	ChannelEcommerce    = "ecommerce"
	ChannelATM          = "atm"
	ChannelBankTransfer = "bank_transfer"
	ChannelMobile       = "mobile"
)

// Channels lists every valid Channel.
var Channels = []string{ChannelPOS, ChannelEcommerce, ChannelATM, ChannelBankTransfer, ChannelMobile}

// Fraud scenarios the generator injects.
const (
	FraudCardTesting         = "card_testing"
	FraudAccountTakeover     = "account_takeover"
	FraudCompromisedMerchant = "compromised_merchant"
)

// FraudScenarios lists every fraud scenario label.
var FraudScenarios = []string{FraudCardTesting, FraudAccountTakeover, FraudCompromisedMerchant}

// EventDate is the UTC calendar date of the event, as YYYY-MM-DD: the lake's
// first partition key.
func (t *Transaction) EventDate() string {
	return t.EventTime.UTC().Format(time.DateOnly)
}
