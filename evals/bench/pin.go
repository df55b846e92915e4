package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// PinEnv is the environment variable that tells a re-executed bench
// process it already runs pinned, and where: "GATEWAY_CPU,LOAD_CPU".
const PinEnv = "RAGWAY_BENCH_PINNED"

// Pinning says which CPU runs the gateway and which runs the load
// generator and the fake upstream.
type Pinning struct {
	Pinned     bool   `json:"pinned"`
	GatewayCPU int    `json:"gateway_cpu"`
	LoadCPU    int    `json:"load_cpu"`
	Taskset    string `json:"-"`
	// Reason says why the run is not pinned.
	Reason string `json:"reason,omitempty"`
}

// PlanPinning chooses two CPUs this process may run on, the first for the
// gateway and the second for the load, if taskset is installed.
func PlanPinning(noPin bool) Pinning {
	if noPin {
		return Pinning{Reason: "disabled by --no-pin"}
	}
	cpus, err := allowedCPUs()
	if err != nil {
		return Pinning{Reason: err.Error()}
	}
	if len(cpus) < 2 {
		return Pinning{Reason: "only one CPU available"}
	}
	path, err := exec.LookPath("taskset")
	if err != nil {
		return Pinning{Reason: "taskset (util-linux) not found"}
	}
	return Pinning{Pinned: true, GatewayCPU: cpus[0], LoadCPU: cpus[1], Taskset: path}
}

// allowedCPUs lists the CPUs in this process's affinity mask.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("cpu affinity: %w", err)
	}
	var cpus []int
	for i := range 1024 {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus, nil
}

// Env is the PinEnv value for p.
func (p Pinning) Env() string { return fmt.Sprintf("%d,%d", p.GatewayCPU, p.LoadCPU) }

// ParsePinEnv reads a PinEnv value, in a process already pinned to the
// load CPU by its parent.
func ParsePinEnv(v string) (Pinning, error) {
	gc, lc, err := parsePinCPUs(v)
	if err != nil {
		return Pinning{}, err
	}
	path, err := exec.LookPath("taskset")
	if err != nil {
		return Pinning{}, fmt.Errorf("taskset: %w", err)
	}
	return Pinning{Pinned: true, GatewayCPU: gc, LoadCPU: lc, Taskset: path}, nil
}

func parsePinCPUs(v string) (gateway, load int, err error) {
	g, l, ok := strings.Cut(v, ",")
	gc, err1 := strconv.Atoi(g)
	lc, err2 := strconv.Atoi(l)
	if !ok || err1 != nil || err2 != nil || gc < 0 || lc < 0 || gc >= 1024 || lc >= 1024 {
		return 0, 0, fmt.Errorf("%s: want GATEWAY_CPU,LOAD_CPU, got %q", PinEnv, v)
	}
	return gc, lc, nil
}

// String describes the pinning for the report.
func (p Pinning) String() string {
	if !p.Pinned {
		return "unpinned (" + p.Reason + "): gateway, load generator and fake upstream share every CPU"
	}
	self, err := statusField(0, "Cpus_allowed_list")
	if err != nil {
		self = "?"
	}
	return fmt.Sprintf("gateway pinned to CPU %d; load generator and fake upstream pinned to CPU %d "+
		"(taskset; this process may run on CPUs %s)", p.GatewayCPU, p.LoadCPU, self)
}

// ErrChild is returned when the re-executed bench process failed; it has
// already reported why.
var ErrChild = errors.New("pinned bench process failed")

// Reexec runs exe args again under taskset, pinned to p.LoadCPU, with
// PinEnv set, and waits for it. On ctx's end the child gets SIGINT, then
// SIGKILL after a bound.
func Reexec(ctx context.Context, p Pinning, exe string, args, env []string, stdout, stderr io.Writer) error {
	argv := append([]string{"-c", strconv.Itoa(p.LoadCPU), exe}, args...)
	cmd := exec.CommandContext(ctx, p.Taskset, argv...)
	cmd.Env = append(slices.Clip(env), PinEnv+"="+p.Env())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%w (%s)", ErrChild, ee.ProcessState)
		}
		return fmt.Errorf("run pinned bench: %w", err)
	}
	return nil
}
