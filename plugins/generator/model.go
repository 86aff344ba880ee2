package generator

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"time"
	"unsafe"

	"github.com/trstream/trstream/plugins/txn"
)

// Indexes into txn.Types.
const (
	tPayment = iota
	tRefund
	tTransfer
	tWithdrawal
	tDeposit
	tFee
	numTypes
)

// Indexes of fraud scenarios; 0 is none.
const (
	scNone = iota
	scCardTesting
	scAccountTakeover
	scCompromisedMerchant
	numScenarios
)

// ScenarioNames maps scenario indexes to labels ("none" for legitimate).
var ScenarioNames = [numScenarios]string{"none", txn.FraudCardTesting, txn.FraudAccountTakeover, txn.FraudCompromisedMerchant}

// Injection kinds of an Event; 0 is none.
const (
	InjNone = iota
	InjDuplicate
	InjLate
	InjInvalid
)

// InjectedNames are the generator_injected metadata values.
var InjectedNames = [...]string{"", "duplicate", "late", "invalid"}

// Event describes the message Append wrote: what a test knows as truth.
type Event struct {
	Account  int32 // local account index
	Type     uint8 // index into txn.Types
	Scenario uint8 // index into ScenarioNames
	Injected uint8 // InjNone, InjDuplicate, InjLate, InjInvalid
	// Invalid is the invalid kind name and BadField the field it breaks
	// ("" when the whole message is broken), when Injected is InjInvalid.
	Invalid  string
	BadField string
	// LateBy is how far event_time lies behind the clock, when Injected
	// is InjLate.
	LateBy time.Duration
}

// Model is the transaction generator without Benthos: a deterministic
// function of its Config. It is not safe for concurrent use.
type Model struct {
	cfg   Config
	w     *world
	r     *rand.Rand
	clock *simClock // nil in realtime mode
	now   func() time.Time

	typeAlias alias
	nextArr   int64 // simulated time of the next arrival, unix micros
	cur       int64 // time of the event being built

	tasks taskHeap

	// fraud controller
	scenAlias     alias
	scenEnabled   []uint8
	fraudRatio    float64 // fraud events per legitimate event wanted
	fraudPlanned  float64
	fraudStarted  float64
	legit         float64 // legitimate events so far
	arrivals      float64 // arrivals so far
	attackerCtrys []string

	// transaction ids
	idKey   uint64
	idNonce uint64 // realtime: drawn at start, so no run repeats another's ids
	idShard uint64
	idSeq   uint64
	idBuf   [36]byte

	tx     txn.Transaction
	haveTx bool

	// appendWire's cache of the event time's hour: its number since the
	// epoch and its text, "2006-01-02T15:".
	hour     int64
	hourText [14]byte

	scratch []byte
	touched int64 // sink of arrival's cache-line loads

	// injection
	inj       Inject
	invKinds  []string
	lateUs    int64
	dupRing   [64]dupSlot
	dupN      int
	dupNext   int
	lastEvent Event
}

type dupSlot struct {
	body []byte
	ev   Event
}

// New builds the model: entity tables first, so that Append does no work
// beyond drawing random numbers and writing bytes.
func New(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := newWorld(&cfg)
	m := &Model{
		cfg:     cfg,
		w:       w,
		r:       rand.New(rand.NewPCG(uint64(cfg.Seed)^0x9e3779b97f4a7c15, splitmix(uint64(cfg.ShardIndex)<<32|uint64(cfg.ShardCount)))),
		now:     time.Now,
		idKey:   splitmix(uint64(cfg.Seed)) & idMask,
		idShard: uint64(cfg.ShardIndex),
		inj:     cfg.Inject,
		lateUs:  cfg.Inject.LateBy.Microseconds(),
		scratch: make([]byte, 0, 512),
		hour:    -1,
	}
	m.invKinds = cfg.Inject.InvalidKinds
	tw := cfg.TypeWeights
	var weights [numTypes]float64
	weights[tPayment], weights[tRefund], weights[tTransfer] = tw.Payment, tw.Refund, tw.Transfer
	weights[tWithdrawal], weights[tDeposit], weights[tFee] = tw.Withdrawal, tw.Deposit, tw.Fee
	m.typeAlias = newAlias(weights[:])
	if cfg.TimeMode == TimeModeSimulated {
		perDay := cfg.DailyTransactions * float64(len(w.accounts))
		m.clock = newSimClock(cfg.StartTime, perDay, intensityCurve(&cfg))
		m.nextArr = m.clock.next(m.r)
	} else {
		// A realtime stream is not reproducible anyway (its times are the
		// wall clock). Its ids must not be either: a generator restarted
		// with the same seed would repeat the ids of its last run, new
		// events that a lake deduplicating by id drops as landed already.
		m.idNonce = uint64(randomSeed())
		now := m.now()
		for i := range w.accounts {
			w.accounts[i].nextSalary = nextPayday(now, w.accounts[i].payday)
		}
	}
	m.initFraud()
	return m, nil
}

// SetNow replaces the wall clock of realtime mode (tests).
func (m *Model) SetNow(now func() time.Time) { m.now = now }

// Accounts is the number of accounts this shard owns.
func (m *Model) Accounts() int { return len(m.w.accounts) }

// AccountID returns the id of local account i.
func (m *Model) AccountID(i int32) string { return m.w.accounts[i].idStr() }

// AccountIDAny returns the id of local account i as a preallocated any, so
// that setting it as metadata does not allocate.
func (m *Model) AccountIDAny(i int32) any { return m.w.accAnys[i] }

// TypeAny returns the transaction type name as a preallocated any.
func (m *Model) TypeAny(t uint8) any { return m.w.typeAnys[t] }

// Balance returns the current balance of local account i.
func (m *Model) Balance(i int32) txn.Amount { return txn.Amount(m.w.accounts[i].balance) }

// EURRate returns the units of currency code per EUR used by the model.
func (m *Model) EURRate(code string) float64 {
	for _, c := range m.w.curs {
		if c.code == code {
			return c.rate
		}
	}
	return 0
}

// Append writes the next message to b and describes it.
func (m *Model) Append(b []byte) ([]byte, Event) {
	if m.haveTx && (m.inj.InvalidRate > 0 || m.inj.DuplicateRate > 0) {
		u := m.r.Float64()
		if u < m.inj.InvalidRate {
			return m.appendInvalid(b)
		}
		if u < m.inj.InvalidRate+m.inj.DuplicateRate && m.dupN > 0 {
			s := &m.dupRing[m.r.IntN(m.dupN)]
			ev := s.ev
			ev.Injected = InjDuplicate
			return append(b, s.body...), ev
		}
	}
	ev := m.next()
	if m.inj.LateRate > 0 && m.r.Float64() < m.inj.LateRate {
		back := 1 + m.r.Int64N(m.lateUs)
		m.tx.EventTime = time.UnixMicro(m.cur - back)
		ev.Injected = InjLate
		ev.LateBy = time.Duration(back) * time.Microsecond
	}
	start := len(b)
	b = m.appendWire(b)
	m.haveTx = true
	m.lastEvent = ev
	if m.inj.DuplicateRate > 0 && ev.Injected == InjNone {
		s := &m.dupRing[m.dupNext]
		s.body = append(s.body[:0], b[start:]...)
		s.ev = ev
		m.dupNext = (m.dupNext + 1) % len(m.dupRing)
		if m.dupN < len(m.dupRing) {
			m.dupN++
		}
	}
	return b, ev
}

// next builds the next legitimate or fraudulent transaction into m.tx.
func (m *Model) next() Event {
	for {
		var now int64
		if m.clock != nil {
			now = m.nextArr
		} else {
			now = m.now().UnixMicro()
		}
		if len(m.tasks) > 0 && m.tasks[0].at <= now {
			t := m.tasks.pop()
			if m.clock == nil {
				// Realtime: due tasks happen now, never in the past.
				t.at = now
			}
			if ev, ok := m.runTask(&t); ok {
				if ev.Scenario == scNone {
					m.legit++
				}
				return ev
			}
			continue
		}
		m.cur = now
		if m.clock != nil {
			m.nextArr = m.clock.next(m.r)
		}
		ai := m.w.aAlias.sample(m.r)
		ev := m.arrival(ai)
		m.legit++
		m.arrivals++
		if m.fraudRatio > 0 && m.r.Float64() < m.fraudStartProb() {
			m.startFraud(ai)
		}
		return ev
	}
}

// setID writes a fresh transaction id: a keyed bijection of (shard,
// sequence) in the 60 non-version bits of the high half, random bits in the
// low half (in realtime mode, mixed with a value drawn at start), in UUIDv4
// form. Ids are unique within and across shards, and, in realtime mode,
// across runs.
func (m *Model) setID() {
	x := (m.idShard<<40 | m.idSeq&(1<<40-1)) ^ m.idKey
	m.idSeq++
	x = x * 0x9fb21c651e98df25 & idMask
	x ^= x >> 29
	x = x * 0xc4ceb9fe1a85ec53 & idMask
	x ^= x >> 32
	lo := m.r.Uint64() ^ m.idNonce
	// The 16 bytes, big-endian: 60 bits around the version nibble, then
	// the variant bits over the random low half.
	hi := (x>>12&(1<<48-1))<<16 | (0x40|x>>8&0x0f)<<8 | x&0xff
	lo = lo&^(0xc0<<56) | 0x80<<56
	id := &m.idBuf
	binary.LittleEndian.PutUint64(id[0:], hex8(uint32(hi>>32)))
	h := hex8(uint32(hi))
	binary.LittleEndian.PutUint32(id[9:], uint32(h))
	binary.LittleEndian.PutUint32(id[14:], uint32(h>>32))
	h = hex8(uint32(lo >> 32))
	binary.LittleEndian.PutUint32(id[19:], uint32(h))
	binary.LittleEndian.PutUint32(id[24:], uint32(h>>32))
	binary.LittleEndian.PutUint64(id[28:], hex8(uint32(lo)))
	id[8], id[13], id[18], id[23] = '-', '-', '-', '-'
	// The string aliases idBuf: m.tx is only encoded (appendWire,
	// AppendJSON) before the next setID.
	m.tx.TransactionID = unsafe.String(&m.idBuf[0], 36)
}

// hex8 is the lower-case hex of v, most significant digit first, as eight
// bytes of a little-endian word (SWAR: no table, no loop).
func hex8(v uint32) uint64 {
	x := uint64(v)
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x&0x00f000f000f000f0)<<4 | x&0x000f000f000f000f // a nibble a byte
	x = bits.ReverseBytes64(x)
	letter := (x + 0x0606060606060606) >> 4 & 0x0101010101010101 // nibble > 9
	return x + 0x3030303030303030 + letter*('a'-'0'-10)
}

const idMask = 1<<60 - 1

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// base fills the fields every event of account a shares.
func (m *Model) base(a *account, typ int) {
	m.setID()
	t := &m.tx
	t.EventTime = time.UnixMicro(m.cur)
	t.AccountID = a.idStr()
	t.CounterpartyID, t.MerchantID, t.MerchantCategory, t.CardFingerprint = "", "", "", ""
	t.Currency = m.w.curs[a.cur].code
	t.Type = txn.Types[typ]
	t.Status = txn.StatusCompleted
	t.Country = m.w.ctrys[a.ctry].code
	t.IsFraud, t.FraudScenario = false, ""
	t.Source = "generator"
}

// debit takes amt from a if the balance allows, else declines; sets the
// amount, status and balance_after.
func (m *Model) debit(a *account, amt int64, declineP float64) bool {
	m.tx.Amount = txn.Amount(amt)
	ok := amt <= a.balance && (declineP == 0 || m.r.Float64() >= declineP)
	if ok {
		a.balance -= amt
	} else {
		m.tx.Status = txn.StatusDeclined
	}
	m.tx.BalanceAfter = txn.Amount(a.balance)
	return ok
}

func (m *Model) credit(a *account, amt int64) {
	a.balance += amt
	m.tx.Amount = txn.Amount(amt)
	m.tx.BalanceAfter = txn.Amount(a.balance)
}

// arrival is one account acting on its own.
func (m *Model) arrival(ai int32) Event {
	w := m.w
	a := &w.accounts[ai]
	// Read all three cache lines of the account at once, so that their
	// misses overlap instead of stalling one after another.
	m.touched = a.nextSalary + int64(a.fav[0]) + int64(a.idLen)
	if m.cur >= a.nextSalary {
		m.base(a, tDeposit)
		m.tx.CounterpartyID = w.employers[a.employer]
		m.tx.Channel = txn.ChannelBankTransfer
		m.credit(a, a.salary)
		a.nextSalary = nextPayday(time.UnixMicro(m.cur), a.payday)
		return Event{Account: ai, Type: tDeposit}
	}
	typ := int(m.typeAlias.sample(m.r))
	if typ == tRefund && a.lastPayMerchant < 0 {
		typ = tPayment
	}
	m.base(a, typ)
	cur := &w.curs[a.cur]
	t := &m.tx
	switch typ {
	case tPayment:
		m.payment(ai, a, cur)
	case tRefund:
		mc := &w.merchants[a.lastPayMerchant]
		t.MerchantID, t.MerchantCategory = mc.id, w.cats[mc.cat].mcc
		t.Country, t.CardFingerprint = w.ctrys[mc.country].code, a.cardStr()
		t.Channel = txn.ChannelPOS
		if a.lastPayOnline {
			t.Channel = txn.ChannelEcommerce
		}
		amt := a.lastPayAmount
		if m.r.Float64() < 0.5 {
			amt = int64(float64(amt)*(0.2+0.8*m.r.Float64())) / cur.unit * cur.unit
			if amt < cur.unit {
				amt = cur.unit
			}
		}
		m.credit(a, amt)
		a.lastPayMerchant = -1
	case tTransfer:
		p := a.payees[m.r.IntN(len(a.payees))]
		pa := &w.accounts[p]
		t.CounterpartyID = pa.idStr()
		t.Channel = txn.ChannelBankTransfer
		if a.mobile {
			t.Channel = txn.ChannelMobile
		}
		amt := cur.amount(transferMean * a.spend * math.Exp(m.r.NormFloat64()-0.5))
		if m.debit(a, amt, 0.002) && p != ai {
			// The payee's side arrives seconds later, in its currency.
			m.tasks.push(task{
				at: m.cur + 1_000_000 + m.r.Int64N(60_000_000), kind: taskReceive, acct: p, aux: ai,
				amount: w.curs[pa.cur].amount(cur.eur(amt)),
			})
		}
	case tWithdrawal:
		t.Channel, t.CardFingerprint = txn.ChannelATM, a.cardStr()
		eur := withdrawalSteps[m.r.IntN(len(withdrawalSteps))] * math.Sqrt(a.spend)
		step := 10.0
		if cur.rate < 5 {
			step = 10 / cur.rate
			if step > 5 {
				step = 10
			} else {
				step = 5
			}
		}
		local := math.Max(step, math.Round(eur*cur.rate/step)*step)
		m.debit(a, int64(local)*10000, 0.003)
	case tDeposit:
		t.Channel = txn.ChannelBankTransfer
		if m.r.Float64() < 0.3 {
			t.Channel = txn.ChannelATM
		}
		m.credit(a, cur.amount(depositMean*a.spend*math.Exp(0.8*m.r.NormFloat64()-0.32)))
	case tFee:
		t.Channel = txn.ChannelBankTransfer
		m.debit(a, cur.amount(feeMean*math.Exp(0.6*m.r.NormFloat64()-0.18)), 0)
	}
	return Event{Account: ai, Type: uint8(typ)}
}

var withdrawalSteps = []float64{20, 40, 50, 50, 60, 80, 100, 100, 150, 200, 250, 300}

// payment is a card payment at a favourite, local or (travel, online)
// foreign merchant.
func (m *Model) payment(ai int32, a *account, cur *currency) {
	w := m.w
	var mi int32
	switch u := m.r.Float64(); {
	case u < 0.80:
		mi = a.fav[m.r.IntN(numFavourites)]
	case u < 0.95 && len(w.ctrys[a.ctry].merchants) > 0:
		c := &w.ctrys[a.ctry]
		mi = c.merchants[c.mAlias.sample(m.r)]
	default:
		mi = w.mAlias.sample(m.r)
	}
	mc := &w.merchants[mi]
	cat := &w.cats[mc.cat]
	t := &m.tx
	t.MerchantID, t.MerchantCategory = mc.id, cat.mcc
	t.Country, t.CardFingerprint = w.ctrys[mc.country].code, a.cardStr()
	online := m.r.Float64() < mc.online*a.ecom
	t.Channel = txn.ChannelPOS
	if online {
		t.Channel = txn.ChannelEcommerce
		if a.mobile && m.r.Float64() < 0.3 {
			t.Channel = txn.ChannelMobile
		}
	}
	amt := cur.amount(a.spend * math.Exp(cat.mu+cat.sigma*m.r.NormFloat64()))
	if m.debit(a, amt, 0.003) {
		a.lastPayMerchant, a.lastPayAmount, a.lastPayOnline = mi, amt, online
		mc.recent[mc.nrec&7] = ai
		mc.nrec++
	}
}
