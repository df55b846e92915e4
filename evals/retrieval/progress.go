package retrieval

import (
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// newBar shows the progress of n steps on stderr, leaving stdout to the
// figures.
func newBar(n int, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions(n, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
}
