package election_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/election"
	"github.com/recount-vote/recount/election/electiontest"
)

// TestManifestBoothFiles: a manifest may pin the voters' web pages, file by file (docs/record.md); anything but
// 1 to 64 files of distinct printable-ASCII paths in increasing order, each with a 32-byte SHA-256, is refused,
// naming the field.
func TestManifestBoothFiles(t *testing.T) {
	e, err := electiontest.Setup(electiontest.Config{Trustees: 1, Threshold: 1, Voters: 1, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	file := func(path string, b byte) *recordv1.BoothFile {
		return &recordv1.BoothFile{Path: path, Sha256: bytes.Repeat([]byte{b}, 32)}
	}
	good := []*recordv1.BoothFile{file("/static/booth.wasm", 1), file("/static/common.js", 2), file("template:vote.html", 3)}
	pinned := proto.Clone(e.Manifest.Proto()).(*recordv1.Manifest)
	pinned.BoothFiles = good
	m, err := election.NewManifest(pinned)
	if err != nil {
		t.Fatalf("a manifest pinning three files: %v", err)
	}
	back, err := election.ParseManifest(m.Bytes())
	if err != nil || !proto.Equal(back.Proto(), pinned) {
		t.Fatalf("the pinned files do not survive the manifest's encoding: %v", err)
	}
	many := make([]*recordv1.BoothFile, election.MaxBoothFiles+1)
	for i := range many {
		many[i] = file("/static/f"+strings.Repeat("x", i), 1)
	}
	for name, c := range map[string]struct {
		files []*recordv1.BoothFile
		field string
	}{
		"out of order":   {[]*recordv1.BoothFile{good[1], good[0]}, "booth_files[1].path"},
		"twice":          {[]*recordv1.BoothFile{good[0], good[0]}, "booth_files[1].path"},
		"empty path":     {[]*recordv1.BoothFile{file("", 1)}, "booth_files[0].path"},
		"space in path":  {[]*recordv1.BoothFile{file("/static/a b.js", 1)}, "booth_files[0].path"},
		"non-ASCII path": {[]*recordv1.BoothFile{file("/static/é.js", 1)}, "booth_files[0].path"},
		"long path":      {[]*recordv1.BoothFile{file("/"+strings.Repeat("a", 256), 1)}, "booth_files[0].path"},
		"short hash":     {[]*recordv1.BoothFile{{Path: "/static/a.js", Sha256: make([]byte, 31)}}, "booth_files[0].sha256"},
		"no hash":        {[]*recordv1.BoothFile{{Path: "/static/a.js"}}, "booth_files[0].sha256"},
		"too many files": {many, "booth_files"},
	} {
		bad := proto.Clone(e.Manifest.Proto()).(*recordv1.Manifest)
		bad.BoothFiles = c.files
		_, err := election.NewManifest(bad)
		if !errors.Is(err, election.ErrManifest) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v, want an invalid manifest naming %s", name, err, c.field)
		}
	}
}
