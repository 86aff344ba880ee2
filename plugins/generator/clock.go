package generator

import (
	"math/rand/v2"
	"time"
)

const (
	usPerHour = int64(time.Hour / time.Microsecond)
	usPerDay  = 24 * usPerHour
)

// hourOfWeek returns 0..167 for unix micros us: Monday 00:00 UTC is 0.
func hourOfWeek(us int64) int {
	h := us / usPerHour
	if us < 0 && us%usPerHour != 0 {
		h--
	}
	days := h / 24
	// 1970-01-01 was a Thursday: Monday-based weekday 3.
	dow := (days + 3) % 7
	if dow < 0 {
		dow += 7
	}
	hod := h % 24
	if hod < 0 {
		hod += 24
	}
	return int(dow*24 + hod)
}

// intensityCurve is the relative arrival intensity for each hour of the
// week, with mean 1.
func intensityCurve(c *Config) [168]float64 {
	var curve [168]float64
	sum := 0.0
	for d := 0; d < 7; d++ {
		hw := c.HourWeights
		if d >= 5 {
			hw = c.WeekendHourWeights
		}
		hs := 0.0
		for _, x := range hw {
			hs += x
		}
		for h := 0; h < 24; h++ {
			// Each day's hour curve is normalised to mean 1 so that
			// day_weights alone decide the volume of a day.
			v := c.DayWeights[d] * hw[h] * 24 / hs
			curve[d*24+h] = v
			sum += v
		}
	}
	for i := range curve {
		curve[i] *= 168 / sum
	}
	return curve
}

// simClock is a non-homogeneous Poisson process with a piecewise constant
// intensity per hour of the week. next returns exact arrival times by
// inversion: one exponential draw per arrival, walking hour segments when an
// arrival crosses a boundary.
type simClock struct {
	base   float64 // arrivals per microsecond at relative intensity 1
	curve  [168]float64
	origin int64   // unix micros of the start
	off    float64 // micros since origin of the last arrival
	segEnd float64 // micros since origin of the end of the current hour
	lambda float64 // arrivals per micro in the current hour
}

func newSimClock(start time.Time, perDay float64, curve [168]float64) *simClock {
	c := &simClock{base: perDay / float64(usPerDay), curve: curve, origin: start.UnixMicro()}
	c.enter(0)
	return c
}

// enter makes the hour containing off the current segment.
func (c *simClock) enter(off float64) {
	us := c.origin + int64(off)
	hourStart := us - ((us%usPerHour)+usPerHour)%usPerHour
	c.segEnd = float64(hourStart + usPerHour - c.origin)
	c.lambda = c.base * c.curve[hourOfWeek(us)]
}

func (c *simClock) next(r *rand.Rand) int64 {
	e := r.ExpFloat64()
	for {
		if c.lambda > 0 {
			dt := e / c.lambda
			if c.off+dt < c.segEnd {
				c.off += dt
				return c.origin + int64(c.off)
			}
			e -= c.lambda * (c.segEnd - c.off)
		}
		c.off = c.segEnd
		c.enter(c.off)
	}
}
