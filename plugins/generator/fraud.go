package generator

import (
	"math"
	"slices"

	"github.com/trstream/trstream/plugins/txn"
)

// Scheduled work: the credit side of transfers and the steps of fraud
// scenarios, due at a time.
const (
	taskReceive = iota
	taskCardTest
	taskTakeover
	taskCompromised
)

type task struct {
	at     int64
	amount int64
	acct   int32
	aux    int32 // sender, merchant, or step number
	kind   uint8
}

// taskHeap is a binary min-heap on at (ties by insertion are irrelevant:
// the order is deterministic either way). No container/heap: no boxing.
type taskHeap []task

func (h *taskHeap) push(t task) {
	*h = append(*h, t)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if s[p].at <= s[i].at {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *taskHeap) pop() task {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && s[r].at < s[l].at {
			c = r
		}
		if s[i].at <= s[c].at {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

// Prior expected fraud events per scenario, before any is observed.
var scenarioPriorSize = [numScenarios]float64{0, 22, 4, 18}

func (m *Model) initFraud() {
	if m.cfg.FraudRate <= 0 {
		return
	}
	m.fraudRatio = m.cfg.FraudRate / (1 - m.cfg.FraudRate)
	var ws []float64
	for sc := uint8(1); sc < numScenarios; sc++ {
		if slices.Contains(m.cfg.FraudScenarios, ScenarioNames[sc]) {
			m.scenEnabled = append(m.scenEnabled, sc)
			// Equal shares of fraud events per scenario: start odds
			// inversely proportional to scenario size.
			ws = append(ws, 1/scenarioPriorSize[sc])
		}
	}
	m.scenAlias = newAlias(ws)
	expSize := 0.0
	for i, sc := range m.scenEnabled {
		expSize += ws[i] * scenarioPriorSize[sc]
	}
	sum := 0.0
	for _, x := range ws {
		sum += x
	}
	// Pseudo-observations so the controller starts at the prior.
	m.fraudStarted, m.fraudPlanned = 4, 4*expSize/sum
	for _, c := range m.w.ctrys {
		m.attackerCtrys = append(m.attackerCtrys, c.code)
	}
	m.attackerCtrys = append(m.attackerCtrys, "NG", "BR", "VN", "RO", "US")
}

// fraudStartProb is the chance that a legitimate arrival starts a scenario:
// the wanted fraud events per legitimate event over the mean number of
// fraud events a scenario has produced so far.
func (m *Model) fraudStartProb() float64 {
	legitPerArrival := (m.legit + 1) / (m.arrivals + 1)
	return m.fraudRatio * legitPerArrival * m.fraudStarted / m.fraudPlanned
}

func (m *Model) after(meanSeconds float64) int64 {
	return m.cur + 1 + int64(m.r.ExpFloat64()*meanSeconds*1e6)
}

// startFraud starts one scenario now, around account ai.
func (m *Model) startFraud(ai int32) {
	w := m.w
	sc := m.scenEnabled[m.scenAlias.sample(m.r)]
	m.fraudStarted++
	switch sc {
	case scCardTesting:
		// A list of stolen cards tried at one online merchant: a burst
		// of tiny authorisations over a few minutes.
		mi := w.online[w.onlAlias.sample(m.r)]
		cards := 3 + m.r.IntN(8)
		victims := make([]int32, cards)
		for i := range victims {
			victims[i] = int32(m.r.IntN(len(w.accounts)))
		}
		n := 10 + m.r.IntN(25)
		at := m.cur
		for i := 0; i < n; i++ {
			at += 1 + int64(m.r.ExpFloat64()*12e6)
			m.tasks.push(task{at: at, kind: taskCardTest, acct: victims[m.r.IntN(cards)], aux: mi})
		}
		m.fraudPlanned += float64(n)
	case scAccountTakeover:
		// The account's credentials are taken; the drain begins shortly.
		m.tasks.push(task{at: m.after(600), kind: taskTakeover, acct: ai})
		m.fraudPlanned++
	case scCompromisedMerchant:
		// A merchant leaks its recent customers' cards; each is charged
		// online elsewhere within hours.
		mi := w.mAlias.sample(m.r)
		if w.accounts[ai].lastPayMerchant >= 0 {
			mi = w.accounts[ai].lastPayMerchant
		}
		mc := &w.merchants[mi]
		n := int(min(mc.nrec, 8))
		if n == 0 {
			mc.recent[0], n = ai, 1
		}
		var seen [8]int32
		k := 0
		for _, v := range mc.recent[:n] {
			if !slices.Contains(seen[:k], v) {
				seen[k] = v
				k++
			}
		}
		for _, v := range seen[:k] {
			charges := 1 + m.r.IntN(3)
			at := m.after(4 * 3600)
			for c := 0; c < charges; c++ {
				m.tasks.push(task{at: at, kind: taskCompromised, acct: v, aux: w.online[w.onlAlias.sample(m.r)]})
				at += 1 + int64(m.r.ExpFloat64()*900e6)
			}
			m.fraudPlanned += float64(charges)
		}
	}
}

// runTask executes a due task; false when it turns out to produce nothing.
func (m *Model) runTask(t *task) (Event, bool) {
	w := m.w
	m.cur = t.at
	a := &w.accounts[t.acct]
	cur := &w.curs[a.cur]
	switch t.kind {
	case taskReceive:
		m.base(a, tDeposit)
		m.tx.CounterpartyID = w.accounts[t.aux].idStr()
		m.tx.Channel = txn.ChannelBankTransfer
		m.credit(a, t.amount)
		return Event{Account: t.acct, Type: tDeposit}, true
	case taskCardTest:
		mc := &w.merchants[t.aux]
		m.base(a, tPayment)
		m.fraud(scCardTesting)
		m.tx.MerchantID, m.tx.MerchantCategory = mc.id, w.cats[mc.cat].mcc
		m.tx.Channel, m.tx.Country, m.tx.CardFingerprint = txn.ChannelEcommerce, w.ctrys[mc.country].code, a.cardStr()
		m.debit(a, cur.amount(0.1+1.9*m.r.Float64()), 0.35)
		return Event{Account: t.acct, Type: tPayment, Scenario: scCardTesting}, true
	case taskTakeover:
		// Drain: transfers of 40-90% of the balance to payees never seen
		// before, until little is left.
		step := t.aux
		floor := cur.amount(20)
		if a.balance <= floor || step >= 8 {
			m.fraudPlanned--
			return Event{}, false
		}
		m.base(a, tTransfer)
		m.fraud(scAccountTakeover)
		m.tx.CounterpartyID = "ext-" + randHex(m.r, 12)
		m.tx.Channel = txn.ChannelMobile
		if m.r.Float64() < 0.5 {
			m.tx.Country = m.attackerCtrys[m.r.IntN(len(m.attackerCtrys))]
		}
		amt := int64(float64(a.balance)*(0.4+0.5*m.r.Float64())) / cur.unit * cur.unit
		m.debit(a, max(amt, cur.unit), 0)
		if a.balance > floor && step < 7 {
			m.tasks.push(task{at: m.after(240), kind: taskTakeover, acct: t.acct, aux: step + 1})
			m.fraudPlanned++
		}
		return Event{Account: t.acct, Type: tTransfer, Scenario: scAccountTakeover}, true
	case taskCompromised:
		mc := &w.merchants[t.aux]
		m.base(a, tPayment)
		m.fraud(scCompromisedMerchant)
		m.tx.MerchantID, m.tx.MerchantCategory = mc.id, w.cats[mc.cat].mcc
		m.tx.Channel, m.tx.Country, m.tx.CardFingerprint = txn.ChannelEcommerce, w.ctrys[mc.country].code, a.cardStr()
		if m.r.Float64() < 0.4 {
			m.tx.Country = m.attackerCtrys[m.r.IntN(len(m.attackerCtrys))]
		}
		m.debit(a, cur.amount(180*math.Exp(0.9*m.r.NormFloat64()-0.405)), 0.1)
		return Event{Account: t.acct, Type: tPayment, Scenario: scCompromisedMerchant}, true
	}
	return Event{}, false
}

func (m *Model) fraud(sc uint8) {
	m.tx.IsFraud, m.tx.FraudScenario = true, ScenarioNames[sc]
}
