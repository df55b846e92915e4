//go:build linux

package sysmon

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// schedIdle is SCHED_IDLE (linux/sched.h).
const schedIdle = 5

// findTimeout bounds the wait for the monitor to be seen in nanosleep. It
// sleeps in nanosleep between 20 µs and 10 ms at a time, and the polling
// itself makes system calls that wake it.
const findTimeout = 500 * time.Millisecond

// lower applies Low or Idle.
func lower(p string) (Applied, error) {
	tid, err := find(findTimeout)
	if err != nil {
		return Applied{}, err
	}
	switch p {
	case Low:
		err = unix.Setpriority(unix.PRIO_PROCESS, tid, 19)
	case Idle:
		err = unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: schedIdle}, 0)
	}
	if err != nil {
		return Applied{}, fmt.Errorf("sysmon: set thread %d to %s: %w", tid, p, err)
	}
	a := Applied{Priority: p, Thread: tid}
	if a.SlackErr = setSlack(tid, Slack); a.SlackErr == nil {
		a.Slack = Slack
	}
	return a, nil
}

// setSlack sets a thread's timer slack through /proc/TID/timerslack_ns
// (the file is there for thread ids too, though /proc lists only
// processes). prctl(PR_SET_TIMERSLACK) would set only the caller's.
func setSlack(tid int, d time.Duration) error {
	err := os.WriteFile(slackPath(tid), []byte(strconv.FormatInt(d.Nanoseconds(), 10)), 0)
	if err != nil {
		return fmt.Errorf("sysmon: set timer slack of thread %d: %w", tid, err)
	}
	return nil
}

func slackPath(tid int) string { return "/proc/" + strconv.Itoa(tid) + "/timerslack_ns" }

// find returns the monitor's thread id: the process's first thread after
// the main one, once it is seen in nanosleep (syscall 35 on amd64; the
// number is read from unix).
func find(timeout time.Duration) (int, error) {
	tid, err := firstThread()
	if err != nil {
		return 0, err
	}
	path := "/proc/self/task/" + strconv.Itoa(tid) + "/syscall"
	want := strconv.Itoa(unix.SYS_NANOSLEEP) + " "
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, fmt.Errorf("sysmon: %w", err)
		}
		if strings.HasPrefix(string(b), want) {
			return tid, nil
		}
		time.Sleep(100 * time.Microsecond)
	}
	return 0, ErrNotFound
}

// firstThread returns the lowest thread id after the process's own.
func firstThread() (int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 0, fmt.Errorf("sysmon: %w", err)
	}
	pid := os.Getpid()
	var tids []int
	for _, e := range ents {
		if t, err := strconv.Atoi(e.Name()); err == nil && t != pid {
			tids = append(tids, t)
		}
	}
	if len(tids) == 0 {
		return 0, ErrNotFound
	}
	return slices.Min(tids), nil
}
