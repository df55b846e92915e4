package builtin

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ragway/ragway/embed/lexical"
)

// Fixed answers.
const (
	// NoContextAnswer is the answer when a request carries no context.
	NoContextAnswer = "The built-in extractive model answers only from context provided with the question, and no LLM backend is configured."
	// NotFoundAnswer is the answer when no sentence of the context shares a
	// meaningful word with the question.
	NotFoundAnswer = "The provided context does not contain an answer to the question."
)

// Answer shaping.
const (
	maxAnswerSentences = 3
	// A sentence joins the answer when it scores at least this share of the
	// best sentence.
	minScoreShare = 0.5
	// maxSentenceWords cuts run-on text (tables, unpunctuated dumps) into
	// pieces of this many words.
	maxSentenceWords = 80
	bm25K1           = 1.2
	bm25B            = 0.75
)

// answer returns the best 1 to 3 sentences of the context for the question,
// in their original order, with whitespace collapsed to single spaces.
func answer(p prompt) string {
	var sentences []string
	for _, c := range p.context {
		sentences = appendSentences(sentences, c)
	}
	if len(sentences) == 0 {
		return NoContextAnswer
	}
	best := rank(lexical.Terms(p.question), sentences)
	if len(best) == 0 {
		return NotFoundAnswer
	}
	parts := make([]string, len(best))
	for i, idx := range best {
		parts[i] = sentences[idx]
	}
	return strings.Join(parts, " ")
}

// rank scores every sentence against the query terms with BM25, idf taken
// over the sentences, and returns the indexes of the chosen sentences in
// ascending order. Sentences repeated verbatim count once.
func rank(query []string, sentences []string) []int {
	slices.Sort(query)
	query = slices.Compact(query)
	if len(query) == 0 {
		return nil
	}
	qi := make(map[string]int, len(query))
	for i, q := range query {
		qi[q] = i
	}
	tf := make([][]float64, len(sentences)) // per sentence, per query term
	lengths := make([]float64, len(sentences))
	df := make([]float64, len(query))
	var total float64
	seen := make(map[string]bool, len(sentences))
	for s, text := range sentences {
		if seen[text] {
			continue
		}
		seen[text] = true
		terms := lexical.Terms(text)
		lengths[s] = float64(len(terms))
		total += lengths[s]
		for _, term := range terms {
			i, ok := qi[term]
			if !ok {
				continue
			}
			if tf[s] == nil {
				tf[s] = make([]float64, len(query))
			}
			if tf[s][i] == 0 {
				df[i]++
			}
			tf[s][i]++
		}
	}
	n := float64(len(seen))
	avg := max(total/n, 1)
	type scored struct {
		idx   int
		score float64
	}
	var hits []scored
	for s := range sentences {
		if tf[s] == nil {
			continue
		}
		var score float64
		for i, f := range tf[s] {
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (n-df[i]+0.5)/(df[i]+0.5))
			score += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*lengths[s]/avg))
		}
		hits = append(hits, scored{s, score})
	}
	if len(hits) == 0 {
		return nil
	}
	slices.SortStableFunc(hits, func(a, b scored) int { return cmp.Compare(b.score, a.score) })
	out := []int{hits[0].idx}
	for _, h := range hits[1:] {
		if len(out) == maxAnswerSentences || h.score < minScoreShare*hits[0].score {
			break
		}
		out = append(out, h.idx)
	}
	slices.Sort(out)
	return out
}

// abbreviations end with a period that does not end a sentence.
var abbreviations = map[string]bool{
	"al": true, "approx": true, "ca": true, "cf": true, "dr": true, "e.g": true, "eg": true,
	"etc": true, "fig": true, "i.e": true, "ie": true, "inc": true, "jr": true, "ltd": true,
	"mr": true, "mrs": true, "ms": true, "no": true, "prof": true, "sr": true, "st": true,
	"vs": true,
}

// appendSentences splits text into sentences and appends them, whitespace
// collapsed. A sentence ends at a line break, or at ".", "!" or "?"
// (possibly followed by closing quotes or brackets) before whitespace,
// unless the period ends a known abbreviation or a single letter.
func appendSentences(out []string, text string) []string {
	var words []string
	flush := func() {
		for len(words) > 0 {
			k := min(len(words), maxSentenceWords)
			out = append(out, strings.Join(words[:k], " "))
			words = words[k:]
		}
		words = words[:0]
	}
	for _, line := range strings.Split(text, "\n") {
		for _, w := range strings.FieldsFunc(line, isSpace) {
			words = append(words, w)
			if endsSentence(w) {
				flush()
			}
		}
		flush()
	}
	return out
}

func endsSentence(word string) bool {
	w := strings.TrimRight(word, "\"')]}»”’")
	if w == "" {
		return false
	}
	switch w[len(w)-1] {
	case '!', '?':
		return true
	case '.':
		stem := strings.ToLower(strings.TrimLeft(w[:len(w)-1], "\"'([{«“‘"))
		if abbreviations[stem] {
			return false
		}
		r, size := utf8.DecodeRuneInString(stem)
		return size != len(stem) || !unicode.IsLetter(r)
	}
	return false
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }
