package heapfloor

import (
	"math"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mib = 1 << 20

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		name        string
		floor, live uint64
		base, want  int
	}{
		{"tiny live heap: the runtime minimum reaches the floor first", 16 * mib, 1 * mib, 100, 400},
		{"live heap over 4 MB: the live term reaches it", 16 * mib, 5 * mib, 100, 220},
		{"half the floor live: the base percent already does", 16 * mib, 8 * mib, 100, 100},
		{"live heap over the floor", 16 * mib, 32 * mib, 100, 100},
		{"nothing measured yet", 16 * mib, 0, 100, 400},
		{"a huge floor is capped", 1 << 40, 64 * mib, 100, 10000},
		{"never under a higher base", 16 * mib, 5 * mib, 300, 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, PercentFor(c.floor, c.live, c.base))
		})
	}
}

// gcState reads the collections so far and the GOGC in force.
func gcState() (cycles uint64, percent uint64) {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

var sink []byte

// churn allocates total bytes of short-lived garbage in 8 KiB pieces and
// returns how many collections ran meanwhile.
func churn(total int) uint64 {
	before, _ := gcState()
	for range total / 8192 {
		sink = make([]byte, 8192)
	}
	sink = nil
	after, _ := gcState()
	return after - before
}

// waitPercent waits for the floor's finalizer to set want.
func waitPercent(t *testing.T, f *Floor, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.Percent() != want && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, want, f.Percent(), "the percent the floor set")
	_, p := gcState()
	require.Equal(t, uint64(want), p, "the GOGC the runtime reports")
}

// waitFloor waits for the floor's finalizer to set the percent that makes
// the heap goal reach floor for the live heap measured (within the 5% by
// which the floor lets small moves pass), well over the base of 100.
func waitFloor(t *testing.T, f *Floor, floor uint64) {
	t.Helper()
	want := func() int {
		s := []metrics.Sample{{Name: liveMetric}}
		metrics.Read(s)
		return PercentFor(floor, s[0].Value.Uint64(), 100)
	}
	near := func() bool {
		w := want()
		return w > 400 && math.Abs(float64(f.Percent()-w)) <= float64(w)/10
	}
	deadline := time.Now().Add(5 * time.Second)
	for !near() && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	require.True(t, near(), "the percent the floor set: %d, for the live heap: %d", f.Percent(), want())
	_, p := gcState()
	require.Equal(t, uint64(f.Percent()), p, "the GOGC the runtime reports")
}

// TestFloorCutsCollections runs the same garbage with and without a floor
// and follows the percent as the live heap grows past the floor and back.
func TestFloorCutsCollections(t *testing.T) {
	t.Setenv("GOGC", "")
	runtime.GC()
	without := churn(256 * mib)

	f := Start(64 * mib)
	require.NotNil(t, f)
	t.Cleanup(f.Stop)
	// The live heap of a test binary is a few MB: GOGC about 1600, the
	// runtime minimum (4 MB × GOGC/100) reaching the floor, or a little
	// less when the live heap is over 4 MB.
	waitFloor(t, f, 64*mib)
	with := churn(256 * mib)
	t.Logf("collections while allocating 256 MiB: %d without a floor, %d with a 64 MiB floor", without, with)
	assert.Greater(t, without, 3*with, "a 64 MiB floor must cut collections several times")

	// A live heap over the floor: back to the base percent, no extra memory.
	live := make([][]byte, 96)
	for i := range live {
		live[i] = make([]byte, mib)
		live[i][0] = 1
	}
	waitPercent(t, f, 100)
	runtime.KeepAlive(live)
	live = nil

	// Small again: the floor applies again.
	waitFloor(t, f, 64*mib)

	f.Stop()
	_, p := gcState()
	assert.Equal(t, uint64(100), p, "Stop restores the base percent")
	runtime.GC()
	runtime.GC()
	_, p = gcState()
	assert.Equal(t, uint64(100), p, "collections after Stop leave GOGC alone")
}

func TestStartLeavesAnExplicitChoiceAlone(t *testing.T) {
	t.Setenv("GOGC", "100")
	assert.Nil(t, Start(64*mib), "GOGC in the environment wins")
	t.Setenv("GOGC", "")
	assert.Nil(t, Start(0), "a zero floor is off")
	assert.Nil(t, Start(-1), "a negative floor is off")
	var f *Floor
	f.Stop() // a nil Floor stops without a panic
}
