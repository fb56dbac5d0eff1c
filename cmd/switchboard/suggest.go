package main

import "strings"

// closest returns the candidate a mistyped word most likely meant, or ""
// when none is close: the same word written another way (Address,
// log-level, logLevel for log_level), one within a couple of typing
// slips (a letter missing, doubled, swapped or wrong), or else one the
// word starts with or is the start of (fritzbox for fritz). Ties go to
// the earlier candidate, so callers list the likelier ones first.
func closest(word string, candidates []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	w := norm(word)
	best, bestDist, prefix := "", 0, ""
	for _, c := range candidates {
		if c == word {
			continue
		}
		nc := norm(c)
		if nc == w {
			return c
		}
		d := editDistance(w, nc)
		// One slip in a short word, two in a longer one: beyond that a
		// suggestion is more often wrong than helpful.
		limit := 1
		if len(w) >= 6 {
			limit = 2
		}
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
		if prefix == "" && min(len(w), len(nc)) >= 4 && (strings.HasPrefix(w, nc) || strings.HasPrefix(nc, w)) {
			prefix = c
		}
	}
	if best == "" {
		return prefix
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of two neighbouring
// letters each count one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows: the one before the previous is needed for swaps.
	prev2 := make([]int, len(rb)+1)
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
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
