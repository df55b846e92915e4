// Package sysmon lowers the scheduling priority of the Go runtime's monitor
// thread (sysmon) and coarsens its timer.
//
// When all of the runtime's Ps are idle the monitor parks, and the next
// system call of any goroutine wakes it; awake, it sleeps in 20 µs steps
// until it sees the Ps idle again. A gateway at low concurrency goes idle
// between requests, so the first socket read of each request wakes the
// monitor, and its 20 µs timer then fires in the middle of the request. On
// a single CPU (a pinned process, a pod with one exclusive CPU) the
// monitor's thread takes that CPU from the request each time: in Ragway's
// benchmark 10–30% of requests spent about 20 µs more in the gateway, and
// the CPU took about one timer interrupt per request. With the monitor at a
// lower priority the kernel lets the request finish first and runs the
// monitor when the CPU would otherwise idle; with a timer slack of
// [Slack] its short sleeps end on an interrupt the CPU takes anyway (the
// scheduler tick, a packet) instead of one of their own.
//
// The runtime offers no setting for this (golang/go#18236). The monitor is
// the first thread the runtime creates, before any package init runs, and
// the only one that sleeps in nanosleep; Lower takes a thread only when
// both hold.
package sysmon

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Priorities of the monitor thread.
const (
	// Auto is Idle when the process may run on one CPU only (its CPU
	// affinity at start, as runtime.NumCPU reports it) and Normal
	// otherwise: with more CPUs the monitor mostly runs beside the
	// requests, not in their place.
	Auto = "auto"
	// Normal leaves the thread as the runtime made it.
	Normal = "normal"
	// Low sets its nice value to 19 and its timer slack to Slack.
	Low = "low"
	// Idle moves it to SCHED_IDLE and sets its timer slack to Slack: it
	// runs only when nothing else wants the CPU, yet still gets a small
	// share when the CPU is saturated, so goroutine preemption keeps
	// working (a 10 ms preemption was measured late by about 4 ms with a
	// CPU-bound goroutine on one CPU).
	Idle = "idle"
)

// Slack is the timer slack Low and Idle give the monitor thread: the kernel
// may end each of its sleeps up to this much late, on an interrupt that
// comes anyway. The monitor's 20 µs duties (handing the P of a goroutine
// blocked in a system call to another thread) then wait up to this long;
// its 10 ms ones (preempting a goroutine that runs too long, polling the
// network when nothing else does) barely move. With a gateway pinned to one
// CPU at concurrency 1, timer interrupts on that CPU fell from 1.05 to 0.15
// per request.
const Slack = time.Millisecond

// ErrUnsupported is returned on systems without the Linux interfaces Lower
// needs.
var ErrUnsupported = errors.New("sysmon: lowering the runtime monitor's priority needs Linux")

// ErrNotFound is returned when no thread is both the runtime's first and
// seen sleeping in nanosleep.
var ErrNotFound = errors.New("sysmon: runtime monitor thread not found")

// Applied is what Lower did.
type Applied struct {
	// Priority is the priority applied: Normal (nothing done), Low or
	// Idle; Auto resolves to one of them.
	Priority string
	// Thread is the monitor's thread id, 0 when nothing was done.
	Thread int
	// Slack is the timer slack set, 0 when none was.
	Slack time.Duration
	// SlackErr says why the slack was not set (writing another thread's
	// slack needs CAP_SYS_NICE); the priority is applied all the same.
	SlackErr error
}

// Valid reports whether p names a priority.
func Valid(p string) bool { return p == Auto || p == Normal || p == Low || p == Idle }

// Lower sets the monitor thread's priority to p (Auto resolved) and, for
// Low and Idle, its timer slack to Slack. A slack that cannot be set is
// reported in Applied.SlackErr, not as an error. Normal changes nothing.
func Lower(p string) (Applied, error) {
	p, err := resolve(p, runtime.NumCPU())
	if err != nil {
		return Applied{}, err
	}
	if p == Normal {
		return Applied{Priority: Normal}, nil
	}
	return lower(p)
}

// resolve returns the priority p means on a process that may use cpus CPUs.
func resolve(p string, cpus int) (string, error) {
	if !Valid(p) {
		return "", fmt.Errorf("sysmon: unknown priority %q (want %s, %s, %s or %s)", p, Auto, Normal, Low, Idle)
	}
	if p == Auto {
		if cpus == 1 {
			return Idle, nil
		}
		return Normal, nil
	}
	return p, nil
}
