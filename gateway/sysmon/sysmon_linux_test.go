//go:build linux

package sysmon

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// threadStat returns the fields of /proc/self/task/TID/stat after the
// command name, so that index 0 is field 3 (state).
func threadStat(t *testing.T, tid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	require.NoError(t, err)
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// TestLowerThenPreempt lowers the monitor to low, then idle, checks the
// thread's nice value and policy, then that a CPU-bound goroutine on one P
// is still preempted: a sleeper beside it wakes within a second, where
// without preemption it would wait for the loop's end, seconds later.
func TestLowerThenPreempt(t *testing.T) {
	tid, err := Lower(Low)
	require.NoError(t, err)
	require.Positive(t, tid)
	require.NotEqual(t, os.Getpid(), tid)
	const niceField, policyField = 19 - 3, 41 - 3
	require.Equal(t, "19", threadStat(t, tid)[niceField], "nice")

	again, err := Lower(Idle)
	require.NoError(t, err)
	require.Equal(t, tid, again, "the same thread both times")
	require.Equal(t, "5", threadStat(t, tid)[policyField], "SCHED_IDLE")

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	stop := make(chan struct{})
	spun := make(chan struct{})
	go func() {
		defer close(spun)
		x := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := range 4_000_000_000 { // seconds without a preemption point
				x += i
			}
		}
	}()
	var worst time.Duration
	for range 20 {
		t0 := time.Now()
		time.Sleep(5 * time.Millisecond)
		worst = max(worst, time.Since(t0))
	}
	close(stop)
	require.Less(t, worst, time.Second, "preemption kept working with the monitor at SCHED_IDLE")
	t.Logf("worst 5 ms sleep beside a CPU-bound goroutine: %v", worst)
	select {
	case <-spun:
	case <-time.After(30 * time.Second):
	}
}
