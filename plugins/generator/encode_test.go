package generator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// TestWireMatchesAppendJSON: the model's encoder writes exactly what txn's
// AppendJSON writes for the same transaction, across types, fraud
// scenarios, late events, currencies and both time modes.
func TestWireMatchesAppendJSON(t *testing.T) {
	one, err := txn.ParseAmount("1")
	require.NoError(t, err)
	require.Equal(t, txn.Amount(amountUnit), one)
	simulated := DefaultConfig()
	simulated.FraudRate = 0.05
	simulated.Inject = Inject{LateRate: 0.05, LateBy: 3 * time.Hour, DuplicateRate: 0.02, InvalidRate: 0.02, InvalidKinds: InvalidKinds}
	realtime := simulated
	realtime.TimeMode = TimeModeRealtime
	realtime.Countries = append(realtime.Countries[:0:0], Country{Code: "JP", Currency: "JPY", Weight: 1}, Country{Code: "DE", Currency: "EUR", Weight: 1})
	for name, c := range map[string]Config{"simulated": simulated, "realtime": realtime} {
		t.Run(name, func(t *testing.T) {
			m, err := New(c)
			require.NoError(t, err)
			var buf []byte
			seen := map[string]bool{}
			for i := 0; i < 200000; i++ {
				var ev Event
				buf, ev = m.Append(buf[:0])
				if ev.Injected == InjDuplicate || ev.Injected == InjInvalid {
					continue
				}
				require.Equal(t, string(m.tx.AppendJSON(nil)), string(buf))
				seen[m.tx.Type+"/"+m.tx.FraudScenario+"/"+m.tx.Currency] = true
			}
			require.Greater(t, len(seen), 12, seen)
		})
	}
}

// TestWireEdgeCases: amounts and times at the ends of the fast paths.
func TestWireEdgeCases(t *testing.T) {
	m, err := New(DefaultConfig())
	require.NoError(t, err)
	m.setID()
	base := m.tx
	for _, tc := range []struct {
		at      time.Time
		amounts []txn.Amount
	}{
		{time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), []txn.Amount{0, 1, 9999, 10000, 1e8*amountUnit - 1, 1e8 * amountUnit, txn.MaxAmount}},
		{time.Date(2025, 12, 31, 23, 59, 59, 999999000, time.UTC), []txn.Amount{-1, -123456789}},
		{time.Date(2024, 2, 29, 13, 7, 5, 1000, time.UTC), []txn.Amount{5, 50, 500}},
		{time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC), []txn.Amount{7}},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), []txn.Amount{7}},
		{time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC), []txn.Amount{7}},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), []txn.Amount{7}},
	} {
		for _, a := range tc.amounts {
			m.tx = base
			m.tx.EventTime, m.tx.Amount, m.tx.BalanceAfter = tc.at, a, a
			m.tx.IsFraud, m.tx.FraudScenario = true, txn.FraudCardTesting
			require.Equal(t, string(m.tx.AppendJSON(nil)), string(m.appendWire(nil)), "%s %d", tc.at, a)
		}
	}
}

// amountUnit is txn.Amount's units per whole currency unit.
const amountUnit = 10000
