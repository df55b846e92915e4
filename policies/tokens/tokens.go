// Package tokens counts prompt tokens the way OpenAI does, before a request
// is sent, so limits can reserve tokens up front. Token ids are tiktoken's,
// computed by package bpe from rank files compiled into the binary
// (github.com/pkoukk/tiktoken-go-loader); nothing is downloaded at run time.
// Each encoding is loaded once per process, on first use.
package tokens

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ragway/ragway/policies/tokens/bpe"
)

// Encoding names.
const (
	CL100K = bpe.CL100K
	O200K  = bpe.O200K
)

// MaxTextBytes bounds how much text one call encodes. Longer text is counted
// by encoding the first MaxTextBytes and extrapolating by length, so a huge
// input costs bounded time and memory and is still over-, not under-counted
// in practice.
const MaxTextBytes = 4 << 20

// o200kPrefixes are model name prefixes that use o200k_base; everything else
// uses cl100k_base, which is also what OpenAI-compatible open models are
// approximated with.
var o200kPrefixes = []string{"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss"}

// EncodingFor returns the encoding name for a model: o200k_base for the
// GPT-4o generation and later, cl100k_base otherwise. A "provider/" prefix
// on the model name is ignored.
func EncodingFor(model string) string {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, p := range o200kPrefixes {
		if strings.HasPrefix(m, p) {
			return O200K
		}
	}
	return CL100K
}

var (
	encMu sync.Mutex
	encs  = map[string]*encodingEntry{}
)

type encodingEntry struct {
	once sync.Once
	enc  *encoder
	err  error
}

// encoder is a loaded encoding and its name.
type encoder struct {
	name string
	tk   *bpe.Encoding
}

// encoding returns the process-wide encoder for name, loading it once.
func encoding(name string) (*encoder, error) {
	encMu.Lock()
	e, ok := encs[name]
	if !ok {
		e = &encodingEntry{}
		encs[name] = e
	}
	encMu.Unlock()
	e.once.Do(func() {
		tk, err := bpe.Load(name)
		if err != nil {
			e.err = fmt.Errorf("load encoding %s: %w", name, err)
			return
		}
		e.enc = &encoder{name: name, tk: tk}
	})
	return e.enc, e.err
}

// Preload loads the encodings so the first request does not pay for it
// (tens of milliseconds and a few MB per encoding; see the package tests).
func Preload(names ...string) error {
	if len(names) == 0 {
		names = []string{CL100K, O200K}
	}
	for _, n := range names {
		if _, err := encoding(n); err != nil {
			return err
		}
	}
	return nil
}

// Counter counts tokens for model names. The zero value is ready to use and
// safe for concurrent use.
type Counter struct {
	// Default, when set, is the encoding used for every model instead of
	// choosing by model name.
	Default string
}

func (c *Counter) encoderFor(model string) (*encoder, error) {
	name := c.Default
	if name == "" {
		name = EncodingFor(model)
	}
	return encoding(name)
}

// Text returns the number of tokens in text for model. Special-token text
// such as "<|endoftext|>" is counted as ordinary text, as OpenAI does for
// user content.
func (c *Counter) Text(model, text string) (int, error) {
	tk, err := c.encoderFor(model)
	if err != nil {
		return 0, err
	}
	return countText(tk, text), nil
}

func countText(e *encoder, text string) int {
	if text == "" {
		return 0
	}
	if len(text) <= MaxTextBytes {
		return cachedCount(e.name, text, e.tk.Count)
	}
	head := text[:MaxTextBytes]
	n := e.tk.Count(head)
	// Extrapolate by bytes, rounding up.
	return int((int64(n)*int64(len(text)) + int64(MaxTextBytes) - 1) / int64(MaxTextBytes))
}
