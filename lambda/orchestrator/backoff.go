package orchestrator

import (
	"math/rand/v2"
	"time"
)

// backoff yields capped exponential pauses with jitter: each pause is drawn from [d/2, d] where d doubles
// from initial up to max, so many waiting requests do not poll orders-api in lockstep.
type backoff struct {
	initial, max time.Duration
	cur          time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.initial
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}
