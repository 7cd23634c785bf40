package witness

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// specExample is the request body of c2sp.org/tlog-witness's example.
const specExample = `old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
`

func TestParseSpecExample(t *testing.T) {
	r, err := ParseAddCheckpoint([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if r.OldSize != 20852014 || len(r.Proof) != 4 || !bytes.HasPrefix(r.Checkpoint, []byte("example.com/behind-the-sofa\n20852163\n")) {
		t.Fatalf("parsed %d, %d proof hashes, checkpoint %q", r.OldSize, len(r.Proof), r.Checkpoint)
	}
	if got := r.Marshal(); string(got) != specExample {
		t.Fatalf("Marshal = %q, want the example back", got)
	}
}

func TestParseMalformed(t *testing.T) {
	hash := "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n"
	cp := "example.com/log\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/log AAAA\n"
	for name, body := range map[string]string{
		"empty":              "",
		"no newline":         "old 1",
		"no old":             "1\n\n" + cp,
		"old leading zero":   "old 01\n\n" + cp,
		"old signed":         "old +1\n\n" + cp,
		"old two spaces":     "old  1\n\n" + cp,
		"old too large":      "old 18446744073709551616\n\n" + cp,
		"old tab":            "old\t1\n\n" + cp,
		"no empty line":      "old 1\n" + hash,
		"no checkpoint":      "old 1\n" + hash + "\n",
		"short hash":         "old 1\nAAAA\n\n" + cp,
		"hash not base64":    "old 1\n" + strings.Repeat("!", 44) + "\n\n" + cp,
		"hash non-canonical": "old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaz=\n\n" + cp,
		"hash CRLF":          "old 1\r\n" + hash + "\n" + cp,
		"64 proof lines":     "old 1\n" + strings.Repeat(hash, 64) + "\n" + cp,
		"oversized":          "old 1\n\n" + strings.Repeat("x", MaxRequestSize),
		"oversized checkpoint": "old 1\n" + strings.Repeat(hash, 3) + "\n" +
			strings.Repeat("x", MaxCheckpointSize+1),
	} {
		if r, err := ParseAddCheckpoint([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %+v, %v; want ErrMalformed", name, r, err)
		}
	}
	if _, err := ParseAddCheckpoint([]byte("old 1\n" + strings.Repeat(hash, 63) + "\n" + cp)); err != nil {
		t.Errorf("63 proof lines: %v", err)
	}
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte("old 0\n\nx\n"))
	f.Add([]byte("old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseAddCheckpoint(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// A parsed request is in canonical form: it marshals back to the same bytes.
		if got := r.Marshal(); !bytes.Equal(got, body) {
			t.Fatalf("Marshal(Parse(%q)) = %q", body, got)
		}
		if len(r.Proof) > MaxProofHashes || len(r.Checkpoint) == 0 || len(r.Checkpoint) > MaxCheckpointSize {
			t.Fatalf("parsed a request out of bounds: %d hashes, checkpoint of %d bytes", len(r.Proof), len(r.Checkpoint))
		}
	})
}
