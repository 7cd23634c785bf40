package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
)

// ruleText describes a contest's rule for people.
func ruleText(c *recordv1.Contest) string {
	switch r := c.Rule.(type) {
	case *recordv1.Contest_Exactly:
		return fmt.Sprintf("choose exactly %d", r.Exactly.K)
	case *recordv1.Contest_Approval:
		return fmt.Sprintf("approve %d to %d", r.Approval.Min, r.Approval.Max)
	case *recordv1.Contest_Score:
		if r.Score.MaxTotal > 0 {
			return fmt.Sprintf("score 0..%d each, at most %d in all", r.Score.MaxScore, r.Score.MaxTotal)
		}
		return fmt.Sprintf("score 0..%d each", r.Score.MaxScore)
	}
	return ""
}

// printTally prints the result as a table, one block per contest, with a bar per option.
func printTally(w io.Writer, m *election.Manifest, t *election.Result, counted int) {
	fmt.Fprintf(w, "%s: %d ballots counted, decrypted by trustees %v\n", m.Proto().Title, counted, t.Trustees)
	width := 0
	for _, cc := range t.Contests {
		for _, oc := range cc.Options {
			width = max(width, utf8.RuneCountInString(oc.Title))
		}
	}
	for c, cc := range t.Contests {
		fmt.Fprintf(w, "\n  %s (%s)\n", cc.Title, ruleText(m.Proto().Contests[c]))
		var top uint64
		for _, oc := range cc.Options {
			top = max(top, oc.Count)
		}
		for _, oc := range cc.Options {
			bar := 0
			if top > 0 {
				bar = int(oc.Count * 30 / top)
			}
			pad := strings.Repeat(" ", width-utf8.RuneCountInString(oc.Title))
			fmt.Fprintf(w, "    %s%s %7d  %s\n", oc.Title, pad, oc.Count, strings.Repeat("█", bar))
		}
	}
}
