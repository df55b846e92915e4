// Package analysis is the text analysis of the stores' lexical (BM25)
// search: the terms a document is indexed under and a query looks for.
// Every store that scores BM25 itself, or hands a search engine text to
// score, analyses with Terms, so the stores rank alike.
package analysis

import "github.com/ragway/ragway/embed/lexical"

// Terms returns the terms of text in order, repeats kept: the lexical
// embedder's terms (lowercased runs of letters and digits, long runs cut,
// English stopwords dropped, plurals stripped), each then Porter-stemmed. A term is never empty, is valid UTF-8 and holds no
// whitespace, so strings.Join(Terms(text), " ") split on whitespace gives
// the terms back.
func Terms(text string) []string {
	ts := lexical.Terms(text)
	for i, t := range ts {
		ts[i] = stem(t)
	}
	return ts
}
