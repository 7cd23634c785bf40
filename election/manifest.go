package election

import (
	"errors"
	"fmt"
	"github.com/recount-vote/recount/crypto/signature"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
)

// ManifestVersion is the only manifest version this package reads.
const ManifestVersion = "recount/v1"

// Limits that keep every ballot and proof bounded.
const (
	MaxContests       = 64
	MaxOptions        = 64
	MaxScore          = 100
	MaxTrustees       = 64
	MaxBoothFiles     = 64 // files of the voters' web pages a manifest pins
	maxTextLength     = 1000
	MaxCredentials    = 10_000_000
	maxRangeProofSize = 1024 // values in one range proof
)

// ErrManifest is returned, wrapped with the field at fault, for an invalid manifest.
var ErrManifest = errors.New("invalid manifest")

// Manifest is a validated election manifest together with its bytes as they stand on the board.
type Manifest struct {
	pb    *recordv1.Manifest
	bytes []byte
	id    ID
	rules []Rule
}

// Rule is what a contest allows, as ranges: each option's value in [0, OptionMax], and the contest's total in
// [TotalMin, TotalMax]. NeedsTotalProof says whether the option ranges alone do not already imply the total's.
type Rule struct {
	Options         int
	OptionMax       uint64
	TotalMin        uint64
	TotalMax        uint64
	NeedsTotalProof bool
}

// NewManifest validates m and fixes its encoding: the returned manifest's Bytes are the payload of the board's
// entry 0, and their SHA-256 is the election's identity.
func NewManifest(m *recordv1.Manifest) (*Manifest, error) {
	return parseManifest(marshal(m))
}

// ParseManifest decodes and validates a manifest entry's payload.
func ParseManifest(payload []byte) (*Manifest, error) { return parseManifest(payload) }

// ManifestFromJSON reads a manifest written by a person, in the protobuf JSON form of recordv1.Manifest
// (field names in lowerCamelCase or as in the .proto), and validates it.
func ManifestFromJSON(data []byte) (*Manifest, error) {
	var pb recordv1.Manifest
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, &pb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	return NewManifest(&pb)
}

func parseManifest(payload []byte) (*Manifest, error) {
	var pb recordv1.Manifest
	if err := unmarshal(payload, &pb); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	m := &Manifest{pb: &pb, bytes: payload, id: hashPayload(payload)}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func manifestErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrManifest, field, fmt.Sprintf(format, args...))
}

func checkText(field, s string, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return manifestErr(field, "is empty")
	}
	if len(s) > maxTextLength {
		return manifestErr(field, "is longer than %d bytes", maxTextLength)
	}
	return nil
}

func (m *Manifest) validate() error {
	pb := m.pb
	if pb.Version != ManifestVersion {
		return manifestErr("version", "is %q, want %q", pb.Version, ManifestVersion)
	}
	if err := checkText("election_ref", pb.ElectionRef, true); err != nil {
		return err
	}
	if err := checkText("title", pb.Title, true); err != nil {
		return err
	}
	if pb.OpensAt <= 0 || pb.ClosesAt <= pb.OpensAt {
		return manifestErr("opens_at/closes_at", "the window [%d, %d] is empty or unset", pb.OpensAt, pb.ClosesAt)
	}
	if len(pb.Contests) == 0 || len(pb.Contests) > MaxContests {
		return manifestErr("contests", "there are %d, want 1 to %d", len(pb.Contests), MaxContests)
	}
	ids := map[string]bool{}
	for i, c := range pb.Contests {
		field := fmt.Sprintf("contests[%d]", i)
		if err := checkText(field+".id", c.Id, true); err != nil {
			return err
		}
		if ids[c.Id] {
			return manifestErr(field+".id", "%q is used twice", c.Id)
		}
		ids[c.Id] = true
		if err := checkText(field+".title", c.Title, true); err != nil {
			return err
		}
		if len(c.Options) == 0 || len(c.Options) > MaxOptions {
			return manifestErr(field+".options", "there are %d, want 1 to %d", len(c.Options), MaxOptions)
		}
		optIDs := map[string]bool{}
		for j, o := range c.Options {
			of := fmt.Sprintf("%s.options[%d]", field, j)
			if err := checkText(of+".id", o.Id, true); err != nil {
				return err
			}
			if optIDs[o.Id] {
				return manifestErr(of+".id", "%q is used twice", o.Id)
			}
			optIDs[o.Id] = true
			if err := checkText(of+".title", o.Title, true); err != nil {
				return err
			}
		}
		r, err := contestRule(c)
		if err != nil {
			return manifestErr(field, "%v", err)
		}
		m.rules = append(m.rules, r)
	}
	n := len(pb.Trustees)
	if n == 0 || n > MaxTrustees {
		return manifestErr("trustees", "there are %d, want 1 to %d", n, MaxTrustees)
	}
	if pb.Threshold == 0 || int(pb.Threshold) > n {
		return manifestErr("threshold", "is %d, want 1 to %d (the number of trustees)", pb.Threshold, n)
	}
	keys := map[string]bool{}
	if len(pb.BoothFiles) > MaxBoothFiles {
		return manifestErr("booth_files", "there are %d, want at most %d", len(pb.BoothFiles), MaxBoothFiles)
	}
	for i, f := range pb.BoothFiles {
		field := fmt.Sprintf("booth_files[%d]", i)
		if len(f.Path) == 0 || len(f.Path) > 256 || strings.IndexFunc(f.Path, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			return manifestErr(field+".path", "%q is not 1 to 256 bytes of printable ASCII", f.Path)
		}
		if i > 0 && f.Path <= pb.BoothFiles[i-1].Path {
			return manifestErr(field+".path", "%q comes after %q: the paths must be in increasing order, each once", f.Path, pb.BoothFiles[i-1].Path)
		}
		if len(f.Sha256) != 32 {
			return manifestErr(field+".sha256", "is %d bytes, want 32", len(f.Sha256))
		}
	}
	for i, t := range pb.Trustees {
		field := fmt.Sprintf("trustees[%d]", i)
		if t.Index != uint32(i+1) {
			return manifestErr(field+".index", "is %d, want %d (trustees are numbered 1..n in order)", t.Index, i+1)
		}
		if err := checkText(field+".name", t.Name, true); err != nil {
			return err
		}
		if len(t.SigningKey) != signature.KeySize {
			return manifestErr(field+".signing_key", "is %d bytes, want %d", len(t.SigningKey), signature.KeySize)
		}
		if err := signature.CheckKey(t.SigningKey); err != nil {
			return manifestErr(field+".signing_key", "is %v", err)
		}
		if len(t.EncryptionKey) != 32 {
			return manifestErr(field+".encryption_key", "is %d bytes, want 32", len(t.EncryptionKey))
		}
		if _, err := hpkeKEM.Scheme().UnmarshalBinaryPublicKey(t.EncryptionKey); err != nil {
			return manifestErr(field+".encryption_key", "%v", err)
		}
		for _, k := range [][]byte{t.SigningKey, t.EncryptionKey} {
			if keys[string(k)] {
				return manifestErr(field, "a key is used twice")
			}
			keys[string(k)] = true
		}
	}
	return nil
}

// contestRule turns a contest's rule into ranges.
func contestRule(c *recordv1.Contest) (Rule, error) {
	n := uint64(len(c.Options))
	r := Rule{Options: len(c.Options)}
	switch rule := c.Rule.(type) {
	case *recordv1.Contest_Exactly:
		k := uint64(rule.Exactly.K)
		if k == 0 || k > n {
			return r, fmt.Errorf("exactly.k is %d, want 1 to %d", k, n)
		}
		r.OptionMax, r.TotalMin, r.TotalMax, r.NeedsTotalProof = 1, k, k, true
	case *recordv1.Contest_Approval:
		lo, hi := uint64(rule.Approval.Min), uint64(rule.Approval.Max)
		if hi == 0 || lo > hi || hi > n {
			return r, fmt.Errorf("approval min %d, max %d: want 0 <= min <= max, 1 <= max <= %d", lo, hi, n)
		}
		r.OptionMax, r.TotalMin, r.TotalMax = 1, lo, hi
		r.NeedsTotalProof = lo > 0 || hi < n
	case *recordv1.Contest_Score:
		R, T := uint64(rule.Score.MaxScore), uint64(rule.Score.MaxTotal)
		if R == 0 || R > MaxScore {
			return r, fmt.Errorf("score.max_score is %d, want 1 to %d", R, MaxScore)
		}
		r.OptionMax, r.TotalMin, r.TotalMax = R, 0, n*R
		if T != 0 && T < n*R {
			r.TotalMax, r.NeedsTotalProof = T, true
		}
	default:
		return r, errors.New("has no rule (exactly, approval or score)")
	}
	if r.TotalMax-r.TotalMin+1 > maxRangeProofSize || r.OptionMax+1 > maxRangeProofSize {
		return r, fmt.Errorf("the allowed totals span more than %d values", maxRangeProofSize)
	}
	return r, nil
}

// ID returns the election's identity: SHA-256 of the manifest's bytes.
func (m *Manifest) ID() ID { return m.id }

// Bytes returns the manifest's encoding, the payload of the board's entry 0.
func (m *Manifest) Bytes() []byte { return m.bytes }

// Proto returns the manifest's fields. It must not be modified.
func (m *Manifest) Proto() *recordv1.Manifest { return m.pb }

// Rules returns each contest's rule, in order.
func (m *Manifest) Rules() []Rule { return m.rules }

// Trustees returns the number of trustees n and the threshold t.
func (m *Manifest) Trustees() (n, t int) { return len(m.pb.Trustees), int(m.pb.Threshold) }

// DraftManifest returns the board entry that publishes the manifest.
func (m *Manifest) DraftManifest() Draft { return Draft{Kind: KindManifest, Payload: m.bytes} }
