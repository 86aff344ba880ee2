package generator

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/plugins/txn"
)

// run appends n messages from a fresh model and returns the bodies.
func run(t testing.TB, c Config, n int) ([][]byte, []Event, *Model) {
	t.Helper()
	m, err := New(c)
	require.NoError(t, err)
	bodies := make([][]byte, 0, n)
	evs := make([]Event, 0, n)
	var arena []byte
	for i := 0; i < n; i++ {
		start := len(arena)
		var ev Event
		arena, ev = m.Append(arena)
		bodies = append(bodies, arena[start:len(arena):len(arena)])
		evs = append(evs, ev)
	}
	return bodies, evs, m
}

func TestDeterministicInSimulatedTime(t *testing.T) {
	c := DefaultConfig()
	c.Seed = 7
	c.FraudRate = 0.02
	c.Inject = Inject{DuplicateRate: 0.01, LateRate: 0.01, LateBy: time.Minute, InvalidRate: 0.01, InvalidKinds: InvalidKinds}
	a, _, _ := run(t, c, 50000)
	b, _, _ := run(t, c, 50000)
	require.True(t, bytes.Equal(bytes.Join(a, nil), bytes.Join(b, nil)), "same seed and config must give byte-identical streams")

	c.Seed = 8
	d, _, _ := run(t, c, 1000)
	require.False(t, bytes.Equal(bytes.Join(a[:1000], nil), bytes.Join(d, nil)))
}

func TestEveryGeneratedEventDecodes(t *testing.T) {
	c := DefaultConfig()
	c.FraudRate = 0.02
	bodies, evs, _ := run(t, c, 100000)
	types := map[string]int{}
	for i, b := range bodies {
		tx, err := txn.Decode(b)
		require.NoError(t, err, string(b))
		require.Equal(t, evs[i].Scenario != scNone, tx.IsFraud)
		require.Equal(t, txn.Types[evs[i].Type], tx.Type)
		require.Equal(t, ScenarioNames[evs[i].Scenario], map[bool]string{false: "none", true: tx.FraudScenario}[tx.IsFraud])
		types[tx.Type]++
	}
	for _, typ := range txn.Types {
		require.Positive(t, types[typ], "type %s never generated", typ)
	}
}

func TestFraudRateAndScenarios(t *testing.T) {
	for _, rate := range []float64{0.005, 0.02} {
		c := DefaultConfig()
		c.FraudRate = rate
		bodies, _, _ := run(t, c, 200000)
		byScen := map[string]int{}
		fraud := 0
		for _, b := range bodies {
			tx, err := txn.Decode(b)
			require.NoError(t, err)
			if !tx.IsFraud {
				continue
			}
			fraud++
			byScen[tx.FraudScenario]++
			switch tx.FraudScenario {
			case txn.FraudCardTesting:
				require.Equal(t, txn.TypePayment, tx.Type)
				require.Equal(t, txn.ChannelEcommerce, tx.Channel)
				require.LessOrEqual(t, float64(tx.Amount)/1e4, 2.0*30, "card testing amounts are tiny")
			case txn.FraudAccountTakeover:
				require.Equal(t, txn.TypeTransfer, tx.Type)
				require.Contains(t, tx.CounterpartyID, "ext-", "drains go to never-seen payees")
			case txn.FraudCompromisedMerchant:
				require.Equal(t, txn.TypePayment, tx.Type)
				require.Equal(t, txn.ChannelEcommerce, tx.Channel)
			}
		}
		got := float64(fraud) / float64(len(bodies))
		t.Logf("fraud_rate %v: observed %.4f %v", rate, got, byScen)
		require.InEpsilon(t, rate, got, 0.3, "fraud share")
		for _, s := range txn.FraudScenarios {
			require.Positive(t, byScen[s], "scenario %s never happened", s)
		}
	}
}

func TestHourOfDayCurve(t *testing.T) {
	c := DefaultConfig()
	c.Accounts = 20000
	c.FraudRate = 0
	m, err := New(c)
	require.NoError(t, err)
	end := c.StartTime.Add(7 * 24 * time.Hour) // one whole week from a Monday
	var hours [24]float64
	total := 0.0
	var buf []byte
	for {
		buf, _ = m.Append(buf[:0])
		if !m.tx.EventTime.Before(end) {
			break
		}
		hours[m.tx.EventTime.UTC().Hour()]++
		total++
	}
	require.Greater(t, total, 200000.0)
	curve := intensityCurve(&c)
	for h := 0; h < 24; h++ {
		want := 0.0
		for d := 0; d < 7; d++ {
			want += curve[d*24+h] / 168
		}
		got := hours[h] / total
		require.InDelta(t, want, got, 0.1*want+0.001, "hour %d share", h)
	}
	require.Less(t, hours[3], hours[12]/5, "night trough well below the lunch peak")
	require.Less(t, hours[15], hours[18], "evening peak above mid-afternoon")
}

func TestWeekendDiffers(t *testing.T) {
	c := DefaultConfig()
	curve := intensityCurve(&c)
	// 8:00 is busier on a weekday than on Saturday; 1:00 the other way.
	require.Greater(t, curve[0*24+8], curve[5*24+8])
	require.Less(t, curve[0*24+1], curve[5*24+1])
}

func TestCategoryMeansMatchLognormal(t *testing.T) {
	c := DefaultConfig()
	c.FraudRate = 0
	bodies, _, m := run(t, c, 200000)
	sum := map[string]float64{}
	n := map[string]float64{}
	for _, b := range bodies {
		tx, err := txn.Decode(b)
		require.NoError(t, err)
		if tx.Type != txn.TypePayment {
			continue
		}
		sum[tx.MerchantCategory] += float64(tx.Amount) / 1e4 / m.EURRate(tx.Currency)
		n[tx.MerchantCategory]++
	}
	for _, cat := range c.Categories {
		require.Greater(t, n[cat.MCC], 1000.0, "too few %s payments", cat.Name)
		mean := sum[cat.MCC] / n[cat.MCC]
		t.Logf("%s %s: n=%.0f mean=%.2f want %.2f", cat.MCC, cat.Name, n[cat.MCC], mean, cat.Mean)
		require.InEpsilon(t, cat.Mean, mean, 0.10, "mean amount of %s", cat.Name)
	}
	// Heavy tail: the largest electronics payment is far above its mean.
	maxAmt := 0.0
	for _, b := range bodies {
		if bytes.Contains(b, []byte(`"merchant_category":"5732"`)) {
			tx, _ := txn.Decode(b)
			maxAmt = math.Max(maxAmt, float64(tx.Amount)/1e4/m.EURRate(tx.Currency))
		}
	}
	require.Greater(t, maxAmt, 10*220.0)
}

func TestBalancesNeverNegativeAndChain(t *testing.T) {
	c := DefaultConfig()
	c.Accounts = 2000 // more events per account
	c.FraudRate = 0.02
	bodies, _, m := run(t, c, 200000)
	last := map[string]txn.Amount{}
	declined := 0
	for _, b := range bodies {
		tx, err := txn.Decode(b)
		require.NoError(t, err)
		require.GreaterOrEqual(t, tx.BalanceAfter, txn.Amount(0), "balance below zero: %s", b)
		delta := tx.Amount
		switch tx.Type {
		case txn.TypePayment, txn.TypeWithdrawal, txn.TypeTransfer, txn.TypeFee:
			delta = -delta
		}
		if tx.Status == txn.StatusDeclined {
			declined++
			delta = 0
		}
		if prev, ok := last[tx.AccountID]; ok {
			require.Equal(t, prev+delta, tx.BalanceAfter, "balance chain broken at %s", b)
		}
		last[tx.AccountID] = tx.BalanceAfter
	}
	require.Less(t, float64(declined)/float64(len(bodies)), 0.05, "declines stay rare: salaries cover spending")
	for i := int32(0); i < int32(m.Accounts()); i++ {
		require.GreaterOrEqual(t, m.Balance(i), txn.Amount(0))
	}
}

func TestShardsAreDisjoint(t *testing.T) {
	accounts := map[string]int{}
	ids := map[string]int{}
	for shard := 0; shard < 3; shard++ {
		c := DefaultConfig()
		c.Accounts = 3000
		c.ShardIndex, c.ShardCount = shard, 3
		bodies, _, m := run(t, c, 30000)
		require.Equal(t, 1000, m.Accounts())
		for _, b := range bodies {
			tx, err := txn.Decode(b)
			require.NoError(t, err)
			if s, ok := accounts[tx.AccountID]; ok {
				require.Equal(t, shard, s, "account %s in two shards", tx.AccountID)
			}
			accounts[tx.AccountID] = shard
			_, dup := ids[tx.TransactionID]
			require.False(t, dup, "transaction id %s repeated", tx.TransactionID)
			ids[tx.TransactionID] = shard
		}
	}
	require.LessOrEqual(t, len(accounts), 3000)
}

func TestTransactionIDsUniqueAcrossShardsByConstruction(t *testing.T) {
	// Same seed, same sequence numbers, different shards: the keyed
	// bijection keeps the 60 high bits apart even if the random low bits
	// were equal.
	seen := map[string]bool{}
	for shard := uint64(0); shard < 4; shard++ {
		m := &Model{idKey: 12345, idShard: shard, r: newTestRand()}
		for i := 0; i < 20000; i++ {
			m.setID()
			hi := strings.Clone(m.tx.TransactionID[:18])
			require.False(t, seen[hi])
			seen[hi] = true
			require.Equal(t, byte('4'), m.tx.TransactionID[14])
		}
	}
}

func TestInjectedEventsAreKnownTruth(t *testing.T) {
	c := DefaultConfig()
	c.Inject = Inject{DuplicateRate: 0.03, LateRate: 0.03, LateBy: 5 * time.Minute, InvalidRate: 0.05, InvalidKinds: InvalidKinds}
	bodies, evs, _ := run(t, c, 60000)
	seen := map[string]bool{}
	kinds := map[string]int{}
	var maxTime time.Time
	for i, b := range bodies {
		ev := evs[i]
		tx, err := txn.Decode(b)
		switch ev.Injected {
		case InjInvalid:
			kinds[ev.Invalid]++
			require.Error(t, err, "%s passed: %s", ev.Invalid, b)
			var fe *txn.FieldError
			require.ErrorAs(t, err, &fe)
			require.Equal(t, InvalidTruth[ev.Invalid].Reason, fe.Reason, "%s: %v", ev.Invalid, err)
			require.Equal(t, ev.BadField, fe.Field, "%s: %v", ev.Invalid, err)
			continue
		case InjDuplicate:
			kinds["duplicate"]++
			require.True(t, seen[string(b)], "a duplicate re-emits an earlier message byte for byte")
		case InjLate:
			kinds["late"]++
			require.NoError(t, err)
			require.Positive(t, ev.LateBy)
			require.LessOrEqual(t, ev.LateBy, 5*time.Minute)
			clock := tx.EventTime.Add(ev.LateBy)
			require.False(t, clock.Before(maxTime), "the clock never goes back")
			maxTime = clock
		}
		require.NoError(t, err, "non-invalid events must decode: %s", b)
		if ev.Injected == InjNone && tx.EventTime.After(maxTime) {
			maxTime = tx.EventTime
		}
		seen[string(b)] = true
	}
	for _, k := range append([]string{"duplicate", "late"}, InvalidKinds...) {
		require.Positive(t, kinds[k], "kind %s never injected", k)
	}
	t.Log(kinds)
}

// TestRealtimeIDsDifferAcrossRuns: two realtime runs with one seed make
// the same kinds of events but not the same ids (a restarted ingest must
// not repeat the ids its last run landed); simulated runs repeat them.
func TestRealtimeIDsDifferAcrossRuns(t *testing.T) {
	for _, mode := range []string{TimeModeSimulated, TimeModeRealtime} {
		t.Run(mode, func(t *testing.T) {
			c := DefaultConfig()
			c.TimeMode = mode
			c.Accounts = 100
			idsOf := func() ([]string, []Event) {
				bodies, evs, _ := run(t, c, 2000)
				ids := make([]string, len(bodies))
				for i, b := range bodies {
					tx, err := txn.Decode(b)
					require.NoError(t, err)
					ids[i] = tx.TransactionID
				}
				return ids, evs
			}
			a, evA := idsOf()
			b, evB := idsOf()
			seen := map[string]bool{}
			for _, id := range a {
				seen[id] = true
			}
			shared := 0
			for _, id := range b {
				if seen[id] {
					shared++
				}
			}
			if mode == TimeModeSimulated {
				assert.Equal(t, len(b), shared)
			} else {
				assert.Zero(t, shared, "ids repeated across runs")
			}
			assert.Equal(t, evA, evB, "the seed still makes every choice")
		})
	}
}

func TestRealtimeUsesWallClock(t *testing.T) {
	c := DefaultConfig()
	c.TimeMode = TimeModeRealtime
	c.Accounts = 100
	m, err := New(c)
	require.NoError(t, err)
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	m.SetNow(func() time.Time { return now })
	var b []byte
	for i := 0; i < 1000; i++ {
		b, _ = m.Append(b[:0])
		tx, err := txn.Decode(b)
		require.NoError(t, err)
		require.Equal(t, now, tx.EventTime)
	}
}

func TestConfigValidateNamesField(t *testing.T) {
	for _, c := range []struct {
		field string
		mod   func(*Config)
	}{
		{"accounts", func(c *Config) { c.Accounts = 0 }},
		{"merchants", func(c *Config) { c.Merchants = -1 }},
		{"fraud_rate", func(c *Config) { c.FraudRate = 2 }},
		{"time_mode", func(c *Config) { c.TimeMode = "bogus" }},
		{"shard_index", func(c *Config) { c.ShardIndex, c.ShardCount = 3, 2 }},
		{"hour_weights", func(c *Config) { c.HourWeights = []float64{1} }},
		{"day_weights", func(c *Config) { c.DayWeights = make([]float64, 7) }},
		{"categories[1].sigma", func(c *Config) { c.Categories[1].Sigma = -1 }},
		{"countries[0].eur_rate", func(c *Config) { c.Countries[0] = Country{Code: "ZA", Currency: "ZAR", Weight: 1} }},
		{"inject.late_by", func(c *Config) { c.Inject.LateRate = 0.1; c.Inject.LateBy = 0 }},
	} {
		t.Run(c.field, func(t *testing.T) {
			cfg := DefaultConfig()
			c.mod(&cfg)
			_, err := New(cfg)
			require.ErrorContains(t, err, c.field)
		})
	}
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
