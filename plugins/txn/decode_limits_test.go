package txn

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLimitsDecode(t *testing.T) {
	tx := sample()
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	big := tx
	big.Amount = 5_000_000_000 * amountUnit // above the default limit
	future := tx
	future.EventTime = time.Now().Add(48 * time.Hour).Truncate(time.Microsecond).UTC()
	old := tx
	old.EventTime = time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC)

	loose := Limits{MaxAmount: MaxAmount, MinTime: time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), MaxFuture: 72 * time.Hour}
	strict := Limits{MaxAmount: 100 * amountUnit, MinTime: DefaultLimits.MinTime, MaxFuture: time.Hour}

	for _, c := range []struct {
		name   string
		l      Limits
		now    time.Time
		in     []byte
		field  string
		reason string
	}{
		{"default ok", DefaultLimits, now, tx.AppendJSON(nil), "", ""},
		{"loose allows big", loose, now, big.AppendJSON(nil), "", ""},
		{"default refuses big", DefaultLimits, now, big.AppendJSON(nil), "amount", ReasonInvalidValue},
		{"strict refuses 123.45", strict, now, tx.AppendJSON(nil), "amount", ReasonInvalidValue},
		{"loose allows future", loose, time.Now(), future.AppendJSON(nil), "", ""},
		{"strict refuses future", strict, time.Now(), future.AppendJSON(nil), "event_time", ReasonInvalidValue},
		{"loose allows 1995", loose, now, old.AppendJSON(nil), "", ""},
		{"parse errors stay", loose, now, []byte(`{"amount":`), "", ReasonMalformedJSON},
		{"missing stays", loose, now, func() []byte {
			var m map[string]any
			_ = json.Unmarshal(tx.AppendJSON(nil), &m)
			delete(m, "currency")
			b, _ := json.Marshal(m)
			return b
		}(), "currency", ReasonMissingField},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.l.Decode(c.in, c.now)
			if c.reason == "" {
				require.NoError(t, err)
				require.Equal(t, tx.AccountID, got.AccountID)
				return
			}
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, c.reason, fe.Reason, err.Error())
			require.Equal(t, c.field, fe.Field, err.Error())
		})
	}
}

// TestLimitsEqual: the same bounds are equal whatever the time zone they
// are written in; any bound that differs is not.
func TestLimitsEqual(t *testing.T) {
	d := DefaultLimits
	paris := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		name string
		l    Limits
		want bool
	}{
		{"itself", d, true},
		{"min time in another zone", Limits{d.MaxAmount, d.MinTime.In(paris), d.MaxFuture}, true},
		{"max amount", Limits{d.MaxAmount + 1, d.MinTime, d.MaxFuture}, false},
		{"min time", Limits{d.MaxAmount, d.MinTime.Add(time.Microsecond), d.MaxFuture}, false},
		{"max future", Limits{d.MaxAmount, d.MinTime, d.MaxFuture - time.Second}, false},
	} {
		if got := c.l.Equal(d); got != c.want {
			t.Errorf("%s: Equal = %v, want %v", c.name, got, c.want)
		}
	}
}
