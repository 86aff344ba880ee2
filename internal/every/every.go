// Package every runs a function on a period until asked to stop: the loop
// of the background jobs (offset commits, lag refreshes, metric pushes, the
// dev broker's retention), written once.
package every

import "time"

// Run calls fn every period, the first time one period after it is called,
// until stop is closed, and not after. fn runs on Run's goroutine, so a call
// in progress ends before Run returns.
func Run(period time.Duration, stop <-chan struct{}, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			// select picks at random among ready cases: a tick that
			// came with stop must not run fn once more.
			select {
			case <-stop:
				return
			default:
			}
			fn()
		}
	}
}
