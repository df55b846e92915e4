// Package sysmon lowers the scheduling priority of the Go runtime's monitor
// thread (sysmon).
//
// When all of the runtime's Ps are idle the monitor parks, and the next
// system call of any goroutine wakes it; awake, it sleeps in 20 µs steps
// until it sees the Ps idle again. A gateway at low concurrency goes idle
// between requests, so the first socket read of each request wakes the
// monitor, and its 20 µs timer then fires in the middle of the request. On
// a single CPU (a pinned process, a pod with one exclusive CPU) the
// monitor's thread takes that CPU from the request each time: in Ragway's
// benchmark 10–30% of requests spent about 20 µs more in the gateway. With
// the monitor at a lower priority the kernel lets the request finish first
// and runs the monitor when the CPU would otherwise idle.
//
// The runtime offers no setting for this (golang/go#18236). The monitor is
// the first thread the runtime creates, before any package init runs, and
// the only one that sleeps in nanosleep; Lower takes a thread only when
// both hold.
package sysmon

import (
	"errors"
	"fmt"
)

// Priorities of the monitor thread.
const (
	// Normal leaves the thread as the runtime made it.
	Normal = "normal"
	// Low sets its nice value to 19.
	Low = "low"
	// Idle moves it to SCHED_IDLE: it runs only when nothing else wants
	// the CPU, yet still gets a small share when the CPU is saturated, so
	// goroutine preemption keeps working (a 10 ms preemption was measured
	// late by about 4 ms with a CPU-bound goroutine on one CPU).
	Idle = "idle"
)

// ErrUnsupported is returned on systems without the Linux interfaces Lower
// needs.
var ErrUnsupported = errors.New("sysmon: lowering the runtime monitor's priority needs Linux")

// ErrNotFound is returned when no thread is both the runtime's first and
// seen sleeping in nanosleep.
var ErrNotFound = errors.New("sysmon: runtime monitor thread not found")

// Valid reports whether p names a priority.
func Valid(p string) bool { return p == Normal || p == Low || p == Idle }

// check returns the error Lower gives for a name that is not a priority.
func check(p string) error {
	if !Valid(p) {
		return fmt.Errorf("sysmon: unknown priority %q (want %s, %s or %s)", p, Normal, Low, Idle)
	}
	return nil
}
