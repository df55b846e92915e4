package lexical

// stem strips English plural suffixes (Harman's S-stemmer) from an ASCII
// token in place and returns the result. Tokens with digits or non-ASCII
// letters are left alone. Stripping "-ing", "-ed" and "-ly" as well measured
// no better on SciFact.
func stem(tok []byte) []byte {
	for _, c := range tok {
		if c >= 0x80 || c >= '0' && c <= '9' {
			return tok
		}
	}
	n := len(tok)
	// Harman's S-stemmer.
	switch {
	case n > 4 && hasSuffix(tok, "ies") && !hasSuffix(tok, "eies") && !hasSuffix(tok, "aies"):
		tok = append(tok[:n-3], 'y')
	case n > 3 && hasSuffix(tok, "es") && !hasSuffix(tok, "aes") && !hasSuffix(tok, "ees") && !hasSuffix(tok, "oes"):
		tok = tok[:n-1]
	case n > 3 && hasSuffix(tok, "s") && !hasSuffix(tok, "us") && !hasSuffix(tok, "ss"):
		tok = tok[:n-1]
	}
	return tok
}

func hasSuffix(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && string(b[len(b)-len(suffix):]) == suffix
}
