package txn

import "time"

// appendTime appends t in TimeLayout (UTC, microseconds, "Z"). It computes
// the civil date from the Unix day directly (Hinnant's days-to-civil), which
// is several times faster than time.Time.AppendFormat on the generator's hot
// path.
func appendTime(b []byte, t time.Time) []byte {
	sec := t.Unix()
	micro := t.Nanosecond() / 1000
	days := sec / 86400
	rem := sec % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	// days-to-civil, for days since 1970-01-01.
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	if y < 0 || y > 9999 {
		return t.UTC().AppendFormat(b, TimeLayout)
	}
	hh, mm, ss := rem/3600, rem/60%60, rem%60
	var buf [27]byte
	put2 := func(i int, v int64) { buf[i], buf[i+1] = twoDigits[v*2], twoDigits[v*2+1] }
	put2(0, y/100)
	put2(2, y%100)
	buf[4] = '-'
	put2(5, m)
	buf[7] = '-'
	put2(8, d)
	buf[10] = 'T'
	put2(11, hh)
	buf[13] = ':'
	put2(14, mm)
	buf[16] = ':'
	put2(17, ss)
	buf[19] = '.'
	put2(20, int64(micro/10000))
	put2(22, int64(micro/100%100))
	put2(24, int64(micro%100))
	buf[26] = 'Z'
	return append(b, buf[:]...)
}
