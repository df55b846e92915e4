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
	a, err := Lower(Low)
	require.NoError(t, err)
	tid := a.Thread
	require.Positive(t, tid)
	require.NotEqual(t, os.Getpid(), tid)
	require.Equal(t, Low, a.Priority)
	const niceField, policyField = 19 - 3, 41 - 3
	require.Equal(t, "19", threadStat(t, tid)[niceField], "nice")
	checkSlack(t, a)

	again, err := Lower(Idle)
	require.NoError(t, err)
	require.Equal(t, tid, again.Thread, "the same thread both times")
	require.Equal(t, "5", threadStat(t, tid)[policyField], "SCHED_IDLE")
	checkSlack(t, again)

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

// checkSlack checks the monitor's timer slack in /proc: Slack, or, for a
// process without CAP_SYS_NICE, a permission error in SlackErr and the
// slack the thread was created with.
func checkSlack(t *testing.T, a Applied) {
	t.Helper()
	b, err := os.ReadFile(slackPath(a.Thread))
	require.NoError(t, err)
	got := strings.TrimSpace(string(b))
	if a.SlackErr != nil {
		require.ErrorIs(t, a.SlackErr, os.ErrPermission, "only a missing capability may leave the slack")
		require.Zero(t, a.Slack)
		require.NotEqual(t, strconv.FormatInt(Slack.Nanoseconds(), 10), got)
		t.Logf("timer slack not set: %v", a.SlackErr)
		return
	}
	require.Equal(t, Slack, a.Slack)
	require.Equal(t, strconv.FormatInt(Slack.Nanoseconds(), 10), got, "timer slack of the monitor")
	mine, err := os.ReadFile(slackPath(os.Getpid()))
	require.NoError(t, err)
	require.NotEqual(t, got, strings.TrimSpace(string(mine)), "only the monitor's slack changes")
}

// TestSetSlackBadThread checks that a thread that does not exist is an
// error naming it.
func TestSetSlackBadThread(t *testing.T) {
	err := setSlack(1<<30, Slack)
	require.Error(t, err)
	require.ErrorContains(t, err, "thread 1073741824")
}
