package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. The kernel fixes it at 100 on
// every architecture Go supports on Linux; reading sysconf(_SC_CLK_TCK) would need cgo.
const clockTicks = 100

// cpuSeconds returns utime+stime of pid in seconds.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: count fields after its end.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return float64(ut+st) / clockTicks, nil
}

// memKiB returns VmRSS and VmHWM of pid in KiB.
func memKiB(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS", "VmHWM":
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("parse /proc/%d/status %s: %w", pid, k, err)
			}
			if k == "VmRSS" {
				rss = n
			} else {
				hwm = n
			}
		}
	}
	return rss, hwm, nil
}

// findPID returns the pid of the first process whose command name is one of names, or 0.
func findPID(names ...string) int {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if comm == n {
				pid, _ := strconv.Atoi(filepath.Base(d))
				return pid
			}
		}
	}
	return 0
}

// cpuTimes is the machine-wide first line of /proc/stat (in ticks) and the context switch count.
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal uint64
	ctxt                                                  uint64
}

func (c cpuTimes) total() uint64 {
	return c.user + c.nice + c.system + c.idle + c.iowait + c.irq + c.softirq + c.steal
}

func readCPUTimes() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	var c cpuTimes
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "cpu":
			vals := make([]uint64, 8)
			for i := range vals {
				if i+1 < len(f) {
					vals[i], _ = strconv.ParseUint(f[i+1], 10, 64)
				}
			}
			c.user, c.nice, c.system, c.idle, c.iowait, c.irq, c.softirq, c.steal =
				vals[0], vals[1], vals[2], vals[3], vals[4], vals[5], vals[6], vals[7]
		case "ctxt":
			if len(f) > 1 {
				c.ctxt, _ = strconv.ParseUint(f[1], 10, 64)
			}
		}
	}
	return c, nil
}

// MachineUsage is how the whole machine's CPU time was spent during a phase.
type MachineUsage struct {
	UserPct         float64 `json:"user_pct"`
	SystemPct       float64 `json:"system_pct"`
	IdlePct         float64 `json:"idle_pct"`
	IOWaitPct       float64 `json:"iowait_pct"`
	SoftIRQPct      float64 `json:"softirq_pct"`
	StealPct        float64 `json:"steal_pct"`
	ContextSwitches float64 `json:"context_switches_per_s"`
	// BusyCPUSeconds is the CPU time the whole machine spent (every core, idle and iowait excluded);
	// OtherCPUSeconds is the part no measured process accounts for: other work on a shared machine
	// (and the kernel's own), which makes a run noisy when it is large.
	BusyCPUSeconds  float64 `json:"busy_cpu_seconds"`
	OtherCPUSeconds float64 `json:"other_cpu_seconds"`
}

func machineUsage(a, b cpuTimes, elapsed time.Duration) *MachineUsage {
	d := float64(b.total() - a.total())
	if d <= 0 || elapsed <= 0 {
		return nil
	}
	pct := func(x, y uint64) float64 { return round(100*float64(y-x)/d, 1) }
	return &MachineUsage{
		UserPct:         pct(a.user+a.nice, b.user+b.nice),
		SystemPct:       pct(a.system+a.irq, b.system+b.irq),
		IdlePct:         pct(a.idle, b.idle),
		IOWaitPct:       pct(a.iowait, b.iowait),
		SoftIRQPct:      pct(a.softirq, b.softirq),
		StealPct:        pct(a.steal, b.steal),
		ContextSwitches: round(float64(b.ctxt-a.ctxt)/elapsed.Seconds(), 0),
		BusyCPUSeconds:  float64((b.total()-b.idle-b.iowait)-(a.total()-a.idle-a.iowait)) / clockTicks,
	}
}

// ProcStats are one process's resources during a phase.
type ProcStats struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// CPUSeconds is utime+stime accumulated during the phase.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPct is CPUSeconds over the phase's wall time (100 = one full core).
	CPUPct float64 `json:"cpu_pct"`
	// CPUMsPerOp is CPUSeconds per successful operation of the phase, in ms.
	CPUMsPerOp float64 `json:"cpu_ms_per_op"`
	// PeakRSSMiB is the highest VmRSS sampled during the phase.
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// HWMMiB is VmHWM at the end of the phase: the peak since the process started. The kernel raises its
	// high-water mark lazily, so it can read a little below a peak sampled from VmRSS.
	HWMMiB float64 `json:"vm_hwm_mib"`
	// Error says why a figure is missing (the process was gone, or /proc unreadable).
	Error string `json:"error,omitempty"`
}

// target is a process to measure; pid is asked again at every sample, since a process may be replaced.
type target struct {
	name string
	pid  func() int
}

// meter measures the targets over a phase: CPU at the start and end, VmRSS every rssEvery in between.
type meter struct {
	targets []target
	start   time.Time
	cpu0    map[string]float64
	pids    map[string]int
	mach0   cpuTimes

	mu      sync.Mutex
	peakRSS map[string]int64
	stop    chan struct{}
	done    chan struct{}
}

const rssEvery = 200 * time.Millisecond

func startMeter(targets []target) *meter {
	m := &meter{
		targets: targets,
		cpu0:    map[string]float64{},
		pids:    map[string]int{},
		peakRSS: map[string]int64{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	m.mach0, _ = readCPUTimes()
	for _, t := range targets {
		pid := t.pid()
		if pid <= 0 {
			continue
		}
		m.pids[t.name] = pid
		if c, err := cpuSeconds(pid); err == nil {
			m.cpu0[t.name] = c
		}
	}
	m.start = time.Now()
	m.sample()
	go func() {
		defer close(m.done)
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
	return m
}

func (m *meter) sample() {
	for _, t := range m.targets {
		pid := t.pid()
		if pid <= 0 {
			continue
		}
		if rss, _, err := memKiB(pid); err == nil {
			m.mu.Lock()
			m.peakRSS[t.name] = max(m.peakRSS[t.name], rss)
			m.mu.Unlock()
		}
	}
}

// finish stops sampling and returns the figures of every target and of the machine; ops is the number
// of successful operations, for CPU per operation.
func (m *meter) finish(ops int64) ([]ProcStats, *MachineUsage) {
	m.sample()
	close(m.stop)
	<-m.done
	elapsed := time.Since(m.start)
	mach1, _ := readCPUTimes()
	var out []ProcStats
	for _, t := range m.targets {
		ps := ProcStats{Name: t.name}
		pid := t.pid()
		if pid <= 0 {
			ps.Error = "not running"
			out = append(out, ps)
			continue
		}
		ps.PID = pid
		c1, err := cpuSeconds(pid)
		c0, ok := m.cpu0[t.name]
		switch {
		case err != nil:
			ps.Error = err.Error()
		case !ok || m.pids[t.name] != pid:
			// Started (or restarted) during the phase: all its CPU time is the phase's.
			ps.CPUSeconds = c1
		default:
			ps.CPUSeconds = c1 - c0
		}
		ps.CPUSeconds = round(ps.CPUSeconds, 2)
		ps.CPUPct = round(100*ps.CPUSeconds/elapsed.Seconds(), 1)
		if ops > 0 {
			ps.CPUMsPerOp = round(1000*ps.CPUSeconds/float64(ops), 3)
		}
		m.mu.Lock()
		ps.PeakRSSMiB = round(float64(m.peakRSS[t.name])/1024, 2)
		m.mu.Unlock()
		if _, hwm, err := memKiB(pid); err == nil {
			ps.HWMMiB = round(float64(hwm)/1024, 2)
		} else if ps.Error == "" {
			ps.Error = err.Error()
		}
		out = append(out, ps)
	}
	mu := machineUsage(m.mach0, mach1, elapsed)
	if mu != nil {
		other := mu.BusyCPUSeconds
		for _, ps := range out {
			other -= ps.CPUSeconds
		}
		mu.OtherCPUSeconds = round(max(0, other), 2)
	}
	return out, mu
}

// loadAvg returns the 1-minute load average, or -1.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
