package generator

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
	"unsafe"

	"github.com/trstream/trstream/plugins/txn"
)

// alias is Vose's alias table: O(1) sampling from a discrete distribution.
type alias struct {
	t []aliasEntry
}

// aliasEntry keeps the threshold and the alias side by side: one cache line
// per draw.
type aliasEntry struct {
	prob  float32
	alias int32
}

func newAlias(w []float64) alias {
	n := len(w)
	prob, al := make([]float64, n), make([]int32, n)
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	scaled := make([]float64, n)
	small := make([]int32, 0, n)
	large := make([]int32, 0, n)
	for i, x := range w {
		scaled[i] = x * float64(n) / sum
		if scaled[i] < 1 {
			small = append(small, int32(i))
		} else {
			large = append(large, int32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		prob[s], al[s] = scaled[s], l
		scaled[l] -= 1 - scaled[s]
		if scaled[l] < 1 {
			large = large[:len(large)-1]
			small = append(small, l)
		}
	}
	for _, i := range large {
		prob[i], al[i] = 1, i
	}
	for _, i := range small {
		prob[i], al[i] = 1, i
	}
	a := alias{t: make([]aliasEntry, n)}
	for i := range a.t {
		a.t[i] = aliasEntry{prob: float32(prob[i]), alias: al[i]}
		if prob[i] >= 1 {
			a.t[i].prob = 2 // always keep, despite float32 rounding
		}
	}
	return a
}

// sample draws an index with one 64-bit random number.
func (a *alias) sample(r *rand.Rand) int32 {
	u := r.Uint64()
	i := int32((u >> 32) * uint64(len(a.t)) >> 32)
	e := a.t[i]
	if float32(uint32(u)>>8)*(1.0/(1<<24)) < e.prob {
		return i
	}
	return e.alias
}

// currency is a currency the generated accounts hold.
type currency struct {
	code string
	rate float64 // units per EUR
	exp  int     // ISO 4217 minor-unit exponent
	unit int64   // Amount units per minor unit: 10^(4-exp)
}

// amount converts eur to this currency, rounded to whole minor units, at
// least one minor unit.
func (c *currency) amount(eur float64) int64 {
	minor := math.Round(eur * c.rate * pow10[c.exp])
	if minor < 1 {
		minor = 1
	}
	if minor > 1e13 {
		minor = 1e13
	}
	return int64(minor) * c.unit
}

// eur converts an amount in this currency back to EUR.
func (c *currency) eur(a int64) float64 {
	return float64(a) / 1e4 / c.rate
}

var pow10 = [...]float64{1, 10, 100, 1000, 10000}

type country struct {
	code string
	cur  uint8
	// merchants in this country, weighted by popularity; nil if none.
	merchants []int32
	mAlias    alias
}

type category struct {
	mcc    string
	mu     float64 // lognormal location so that the mean is Category.Mean
	sigma  float64
	mean   float64
	online float64
}

type merchant struct {
	id      string
	cat     uint8
	country uint8
	online  float64
	// recent customers (local account indexes), a ring, for
	// compromised_merchant.
	recent [8]int32
	nrec   uint8
}

const numFavourites = 12

// account is laid out in three cache lines, hottest first: every event
// touches line one and the id in line three, a payment also one favourite
// in line two and the card. The id and card bytes live in the struct, so
// writing them misses no separate string data, and the struct holds no
// pointer: the garbage collector never scans the accounts.
type account struct {
	// line 1
	nextSalary      int64 // unix micros
	balance         int64
	spend           float64
	ecom            float64
	lastPayAmount   int64
	lastPayMerchant int32
	cur             uint8
	ctry            uint8
	mobile          bool // prefers the mobile app for transfers and ecommerce
	lastPayOnline   bool
	salary          int64
	payday          int32 // day of month
	employer        int32
	// line 2
	fav    [numFavourites]int32
	payees [3]int32
	_      [4]byte
	// line 3
	card  [32]byte // hex
	idb   [maxAccountID]byte
	idLen uint8
	_     [11]byte
}

// maxAccountID fits "acc-" and 16 digits: Validate bounds accounts below
// 2^51.
const maxAccountID = 20

// The layout above assumes 64-byte lines and a 192-byte account.
var _ [192 - unsafe.Sizeof(account{})]byte
var _ [unsafe.Sizeof(account{}) - 192]byte

// idStr and cardStr view the account's own bytes, written once by newWorld
// and never again.
func (a *account) idStr() string   { return unsafe.String(&a.idb[0], int(a.idLen)) }
func (a *account) cardStr() string { return unsafe.String(&a.card[0], len(a.card)) }

// world is the precomputed entity tables of one shard.
type world struct {
	cats       []category
	curs       []currency
	ctrys      []country
	merchants  []merchant
	mAlias     alias   // all merchants by popularity
	online     []int32 // merchants that sell online
	onlAlias   alias
	accounts   []account
	accAnys    []any // account ids boxed once, for metadata
	aAlias     alias // accounts by activity
	employers  []string
	typeIDs    [numTypes]string
	typeAnys   [numTypes]any
	expOutflow float64 // expected EUR outflow per arrival at spend 1
}

func lognormalMu(mean, sigma float64) float64 { return math.Log(mean) - sigma*sigma/2 }

// meanOne draws a lognormal with mean 1.
func meanOne(r *rand.Rand, sigma float64) float64 {
	return math.Exp(sigma*r.NormFloat64() - sigma*sigma/2)
}

func pad(prefix string, n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return prefix + s
}

const hexDigits = "0123456789abcdef"

func randHex(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexDigits[r.IntN(16)]
	}
	return string(b)
}

func newWorld(c *Config) *world {
	w := &world{}
	for i, t := range txn.Types {
		w.typeIDs[i] = t
		w.typeAnys[i] = t
	}
	// Merchants are the same world for every shard: seeded by seed only.
	mr := rand.New(rand.NewPCG(uint64(c.Seed), 0x6d65726368616e74))
	catW := make([]float64, len(c.Categories))
	for i, cat := range c.Categories {
		w.cats = append(w.cats, category{
			mcc: cat.MCC, mu: lognormalMu(cat.Mean, cat.Sigma), sigma: cat.Sigma, mean: cat.Mean, online: cat.EcommerceShare,
		})
		catW[i] = cat.Weight
	}
	curIdx := map[string]uint8{}
	ctryW := make([]float64, len(c.Countries))
	for i, co := range c.Countries {
		ci, ok := curIdx[co.Currency]
		if !ok {
			rate := co.EURRate
			if rate == 0 {
				rate = BuiltinEURRates[co.Currency]
			}
			exp := txn.CurrencyExponent(co.Currency)
			unit := int64(1)
			for j := exp; j < txn.AmountScale; j++ {
				unit *= 10
			}
			ci = uint8(len(w.curs))
			curIdx[co.Currency] = ci
			w.curs = append(w.curs, currency{code: co.Currency, rate: rate, exp: exp, unit: unit})
		}
		w.ctrys = append(w.ctrys, country{code: co.Code, cur: ci})
		ctryW[i] = co.Weight
	}
	catA, ctryA := newAlias(catW), newAlias(ctryW)
	w.merchants = make([]merchant, c.Merchants)
	pop := make([]float64, c.Merchants)
	perCtry := make([][]float64, len(w.ctrys))
	var onlW []float64
	for i := range w.merchants {
		m := &w.merchants[i]
		m.id = pad("mer-", i, 6)
		m.cat = uint8(catA.sample(mr))
		m.country = uint8(ctryA.sample(mr))
		// A merchant sells online with its category's share, give or take.
		m.online = math.Min(1, w.cats[m.cat].online*(0.5+mr.Float64()))
		pop[i] = meanOne(mr, 1.0)
		k := m.country
		w.ctrys[k].merchants = append(w.ctrys[k].merchants, int32(i))
		perCtry[k] = append(perCtry[k], pop[i])
		if m.online >= 0.3 {
			w.online = append(w.online, int32(i))
			onlW = append(onlW, pop[i])
		}
	}
	w.mAlias = newAlias(pop)
	for k := range w.ctrys {
		if len(perCtry[k]) > 0 {
			w.ctrys[k].mAlias = newAlias(perCtry[k])
		}
	}
	if len(w.online) == 0 {
		w.online, onlW = []int32{0}, []float64{1}
	}
	w.onlAlias = newAlias(onlW)
	w.employers = make([]string, 256)
	for i := range w.employers {
		w.employers[i] = pad("emp-", i, 6)
	}

	// Expected EUR outflow of one arrival at spend level 1: what salaries
	// are calibrated against so that balances drift slowly upwards.
	tw := c.TypeWeights
	tsum := tw.Payment + tw.Withdrawal + tw.Transfer + tw.Refund + tw.Fee + tw.Deposit
	payMean, cwSum := 0.0, 0.0
	for i, cat := range c.Categories {
		payMean += catW[i] * cat.Mean
		cwSum += catW[i]
	}
	payMean /= cwSum
	w.expOutflow = (tw.Payment*payMean + tw.Withdrawal*withdrawalMean + tw.Transfer*transferMean +
		tw.Fee*feeMean - tw.Refund*0.7*payMean - tw.Deposit*depositMean) / tsum
	if w.expOutflow < 10 {
		w.expOutflow = 10
	}

	// Accounts: this shard's share, global index ≡ shard_index mod shard_count.
	ar := rand.New(rand.NewPCG(uint64(c.Seed), 0x6163636f756e7400|uint64(c.ShardIndex)<<32^uint64(c.ShardCount)))
	n := (c.Accounts - c.ShardIndex + c.ShardCount - 1) / c.ShardCount
	w.accounts = make([]account, n)
	w.accAnys = make([]any, n)
	act := make([]float64, n)
	start := c.StartTime
	for i := range w.accounts {
		a := &w.accounts[i]
		a.idLen = uint8(copy(a.idb[:], pad("acc-", i*c.ShardCount+c.ShardIndex, 8)))
		w.accAnys[i] = a.idStr()
		copy(a.card[:], randHex(ar, len(a.card)))
		a.ctry = uint8(ctryA.sample(ar))
		a.cur = w.ctrys[a.ctry].cur
		a.mobile = ar.Float64() < 0.55
		a.spend = meanOne(ar, 0.5)
		a.ecom = 0.5 + ar.Float64()
		act[i] = meanOne(ar, 0.6)
		cur := &w.curs[a.cur]
		monthly := w.expOutflow * c.DailyTransactions * 30.44 * act[i] * a.spend
		a.salary = cur.amount(monthly * (1.1 + 0.25*ar.Float64()))
		a.balance = cur.amount(monthly * (0.8 + 1.2*ar.Float64()))
		a.payday = []int32{1, 25, 26, 27, 28}[ar.IntN(5)]
		a.employer = int32(ar.IntN(len(w.employers)))
		a.nextSalary = nextPayday(start, a.payday)
		ca := &w.ctrys[a.ctry]
		for j := range a.fav {
			if len(ca.merchants) > 0 {
				a.fav[j] = ca.merchants[ca.mAlias.sample(ar)]
			} else {
				a.fav[j] = w.mAlias.sample(ar)
			}
		}
		for j := range a.payees {
			p := ar.IntN(n)
			if p == i && n > 1 {
				p = (p + 1) % n
			}
			a.payees[j] = int32(p)
		}
		a.lastPayMerchant = -1
	}
	w.aAlias = newAlias(act)
	return w
}

// Mean EUR amounts of the non-merchant types.
const (
	withdrawalMean = 95
	transferMean   = 120
	feeMean        = 2.5
	depositMean    = 110
)

// nextPayday is the first payday on day dom strictly after t, as unix micros.
func nextPayday(t time.Time, dom int32) int64 {
	t = t.UTC()
	p := time.Date(t.Year(), t.Month(), int(dom), 9, 0, 0, 0, time.UTC)
	if !p.After(t) {
		p = time.Date(t.Year(), t.Month()+1, int(dom), 9, 0, 0, 0, time.UTC)
	}
	return p.UnixMicro()
}
