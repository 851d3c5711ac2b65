package config

import (
	"sort"
	"strings"
)

// Nearest returns the candidate closest to word by edit distance,
// ignoring case, or "" when none is close enough to be a likely typo.
// Ties go to the alphabetically first candidate, so the answer is stable.
func Nearest(word string, candidates []string) string {
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	// Allow one edit per four letters, at least one and at most three:
	// enough for a transposed or doubled letter, too few to match an
	// unrelated word.
	limit := min(1+len(word)/4, 3)
	best, bestDist := "", limit+1
	lw := strings.ToLower(word)
	for _, c := range sorted {
		if d := editDistance(lw, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
