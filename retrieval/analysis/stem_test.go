package analysis

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStem(t *testing.T) {
	cases := map[string]string{
		"caresses": "caress", "ponies": "poni", "cats": "cat", "agreed": "agre",
		"plastered": "plaster", "motoring": "motor", "sing": "sing", "conflated": "conflat",
		"hopping": "hop", "falling": "fall", "filing": "file", "happy": "happi",
		"relational": "relat", "conditional": "condit", "generalizations": "gener",
		"oscillators": "oscil", "effective": "effect", "adjustment": "adjust",
		"communism": "commun", "hopefulness": "hope", "goodness": "good",
		"adoption": "adopt", "controlling": "control", "rate": "rate",
		"a": "a", "is": "is", "covid19": "covid19", "naïve": "naïve", "": "",
	}
	for in, want := range cases {
		require.Equal(t, want, stem(in), "stem(%q)", in)
	}
}

func FuzzStem(f *testing.F) {
	for _, s := range []string{"caresses", "y", "yy", "eed", "sses", "ies", "ational", "xyzzy", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := stem(s)
		require.LessOrEqual(t, len(out), len(s)+1)
	})
}
