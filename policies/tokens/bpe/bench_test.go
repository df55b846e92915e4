package bpe

import (
	"strings"
	"testing"
)

// benchInputs are the benchmark texts: a short chat message, a 2 KB English
// paragraph and Go code.
var benchInputs = []struct{ name, text string }{
	{"chat", "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
	{"paragraph", paragraph2K()},
	{"code", strings.Repeat(corpus["code go"], 8)},
}

func paragraph2K() string {
	const p = "Tokenizers split text into pieces before byte-pair merging. Each piece is looked up whole; " +
		"most English words, with their leading space, are a single token, while rare words, numbers like " +
		"1234567 and names such as Kubernetes or Llewellyn are merged from bytes. "
	s := strings.Repeat(p, 2048/len(p)+1)
	return s[:2048]
}

func BenchmarkEncode(b *testing.B) {
	for _, name := range encodingNames {
		l := load(b, name)
		for _, in := range benchInputs {
			b.Run(name+"/"+in.name+"/bpe", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in.text)))
				for b.Loop() {
					l.ours.Encode(in.text)
				}
			})
			b.Run(name+"/"+in.name+"/bpe-count", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in.text)))
				for b.Loop() {
					l.ours.Count(in.text)
				}
			})
			b.Run(name+"/"+in.name+"/tiktoken-go", func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(in.text)))
				for b.Loop() {
					l.ref.EncodeOrdinary(in.text)
				}
			})
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, name := range encodingNames {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Load(name); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCountCold counts a short chat message after evicting the CPU
// caches (by writing a 64 MiB buffer, outside the timer): the count a
// gateway makes for a request after other processes had the CPU, when
// every rank lookup misses the caches.
func BenchmarkCountCold(b *testing.B) {
	evict := make([]byte, 64<<20)
	for _, name := range encodingNames {
		l := load(b, name)
		text := benchInputs[0].text
		b.Run(name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				for j := 0; j < len(evict); j += 64 {
					evict[j] = byte(i)
				}
				b.StartTimer()
				l.ours.Count(text)
			}
		})
	}
}
