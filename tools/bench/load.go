package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Latency summarises a set of durations, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// summarize returns the percentiles of ds (nearest rank), or nil when there are none.
func summarize(ds []time.Duration) *Latency {
	if len(ds) == 0 {
		return nil
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return &Latency{
		N:    len(s),
		P50:  ms(percentile(s, 0.50)),
		P95:  ms(percentile(s, 0.95)),
		P99:  ms(percentile(s, 0.99)),
		Max:  ms(s[len(s)-1]),
		Mean: ms(sum / time.Duration(len(s))),
	}
}

// percentile of sorted s by nearest rank.
func percentile(s []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(len(s)-1, i))]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

// opFunc runs one operation; it returns "" on success, or a short class of the failure ("409
// INSUFFICIENT_STOCK", "transport: timeout") under which errors are counted.
type opFunc func(ctx context.Context, client int, seq int64) string

// loadSpec is one load phase: closed loop with clients when rate is 0, else fixed rate.
type loadSpec struct {
	name     string
	unit     string // what an operation is, per second: "orders/s"
	clients  int
	rate     float64
	warmup   time.Duration
	duration time.Duration
	op       opFunc
	// targets are measured during the window.
	targets []target
}

// maxInFlight bounds a fixed-rate phase: past it, an arrival is counted as an error instead of started,
// so a stalled system cannot make the harness exhaust memory.
const maxInFlight = 4096

// window is the measured interval of a load phase.
type window struct{ start, end time.Time }

func (w window) contains(t time.Time) bool { return !t.Before(w.start) && !t.After(w.end) }

// runLoad runs spec and measures it. An operation counts when it started inside the window (at a fixed
// rate: when it was due inside it), and the phase waits for those still running at its end: dropping
// them instead would drop the slowest operations from the percentiles. At a fixed rate, latency runs
// from when an operation was due, not from when it was sent, so a backed-up system is not flattered.
func runLoad(ctx context.Context, spec loadSpec) (Phase, window) {
	ph := Phase{Name: spec.name, Unit: spec.unit, Clients: spec.clients, Rate: spec.rate, Errors: map[string]int64{}}
	var (
		mu   sync.Mutex
		lats []time.Duration
		ok   int64
	)
	record := func(d time.Duration, class string) {
		mu.Lock()
		defer mu.Unlock()
		if class != "" {
			ph.Errors[class]++
			return
		}
		ok++
		lats = append(lats, d)
	}

	// Window bounds as Unix nanoseconds, 0 until known, read by the load goroutines.
	var wStart, wEnd atomic.Int64
	inWindow := func(t0 time.Time) bool {
		s, e := wStart.Load(), wEnd.Load()
		return s != 0 && t0.UnixNano() >= s && (e == 0 || t0.UnixNano() <= e)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var (
		m *meter
		w window
	)
	openWindow := func() {
		m = startMeter(spec.targets)
		w.start = time.Now()
		wStart.Store(w.start.UnixNano())
	}
	if spec.warmup == 0 {
		// Open it before the first operation starts, or the first operation of each client would not count.
		openWindow()
	}
	begin := time.Now()

	if spec.rate == 0 {
		ph.Mode = "closed loop"
		for c := 0; c < spec.clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := int64(0); !stop.Load() && runCtx.Err() == nil; seq++ {
					t0 := time.Now()
					class := spec.op(runCtx, c, seq)
					t1 := time.Now()
					if inWindow(t0) {
						record(t1.Sub(t0), class)
					}
				}
			}()
		}
	} else {
		ph.Mode = "fixed rate"
		ph.Clients = 0
		interval := time.Duration(float64(time.Second) / spec.rate)
		last := begin.Add(spec.warmup + spec.duration)
		var inflight atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := int64(0); ; seq++ {
				due := begin.Add(time.Duration(seq) * interval)
				if due.After(last) || runCtx.Err() != nil {
					return
				}
				if d := time.Until(due); d > 0 {
					select {
					case <-runCtx.Done():
						return
					case <-time.After(d):
					}
				}
				counted := !due.Before(begin.Add(spec.warmup))
				if inflight.Load() >= maxInFlight {
					if counted {
						record(0, fmt.Sprintf("not sent: %d already in flight", maxInFlight))
					}
					continue
				}
				inflight.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer inflight.Add(-1)
					class := spec.op(runCtx, 0, seq)
					if counted {
						record(time.Since(due), class)
					}
				}()
			}
		}()
	}

	if spec.warmup > 0 {
		sleep(ctx, spec.warmup)
		openWindow()
	}
	sleep(ctx, spec.duration)
	w.end = time.Now()
	wEnd.Store(w.end.UnixNano())
	procs, mach := m.finish(0) // CPU per operation is filled in below, once ok is final
	if spec.rate == 0 {
		stop.Store(true)
	}
	// In-flight operations end by themselves (every client call has a timeout); an interrupt cancels them.
	wg.Wait()

	ph.Seconds = round(w.end.Sub(w.start).Seconds(), 3)
	if ctx.Err() != nil {
		ph.Error = "interrupted"
	}
	mu.Lock()
	defer mu.Unlock()
	ph.Ops = ok
	ph.Throughput = round(float64(ok)/ph.Seconds, 2)
	ph.Latency = summarize(lats)
	for _, n := range ph.Errors {
		ph.ErrorCount += n
	}
	for i := range procs {
		if ok > 0 {
			procs[i].CPUMsPerOp = round(1000*procs[i].CPUSeconds/float64(ok), 3)
		}
	}
	ph.Processes, ph.Machine = procs, mach
	return ph, w
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
