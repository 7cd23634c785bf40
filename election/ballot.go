package election

import (
	"context"
	"crypto/ed25519"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/recount-vote/recount/crypto/signature"
	"io"
	"math/rand/v2"
	"strings"

	recordv1 "github.com/recount-vote/recount/api/recount/record/v1"
	"github.com/recount-vote/recount/crypto/elgamal"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/crypto/zkp"
)

// A ballot is encrypted on the voter's device: for every option of every contest an ElGamal ciphertext of the
// option's value and a range proof that the value is allowed (0/1, or a score 0..R), and for every contest whose
// rule limits the total a range proof over the sum of its ciphertexts. Every proof is bound to the election, the
// voter's credential and its position, so none can be moved to another ballot or place. The voter's credential
// signs the whole; the SHA-256 of the Ballot's bytes is its tracking code, the same whether the voter casts it or
// challenges it, and whatever wraps the signature.
//
// This file is all a voting client needs to link: it does no I/O.

// ballotSignaturePrefix is prepended to the Ballot bytes before they are signed for casting.
const ballotSignaturePrefix = "recount/ballot/v1\x00"

// challengeSignaturePrefix is prepended to the Ballot bytes before they are signed for a challenge. A challenge
// must carry no signature that casts: a node that received a challenge and kept it off the board could
// otherwise cast the challenged ballot, whose choices the voter revealed, after the voter's last ballot, and it
// would count (found by review).
const challengeSignaturePrefix = "recount/challenge/v1\x00"

// totalPosition is the option number in the proof context of a contest's total proof.
const totalPosition = 0xFFFFFFFF

// Choices are a voter's selections: Choices[c][o] is the value given to option o of contest c (1 for a chosen
// option and 0 otherwise; a score for score contests).
type Choices [][]uint64

// CheckChoices reports whether ch is a valid set of choices for the manifest, naming the contest at fault.
func (m *Manifest) CheckChoices(ch Choices) error {
	if len(ch) != len(m.rules) {
		return fmt.Errorf("choices: %d contests, the manifest has %d", len(ch), len(m.rules))
	}
	for c, r := range m.rules {
		id := m.pb.Contests[c].Id
		if len(ch[c]) != r.Options {
			return fmt.Errorf("choices: contest %q: %d values, it has %d options", id, len(ch[c]), r.Options)
		}
		var total uint64
		for o, v := range ch[c] {
			if v > r.OptionMax {
				return fmt.Errorf("choices: contest %q, option %q: value %d, at most %d allowed", id, m.pb.Contests[c].Options[o].Id, v, r.OptionMax)
			}
			total += v
		}
		if total < r.TotalMin || total > r.TotalMax {
			return fmt.Errorf("choices: contest %q: total %d, allowed %d to %d", id, total, r.TotalMin, r.TotalMax)
		}
	}
	return nil
}

// RandomChoices returns valid random choices for the manifest (for trials and tests), drawn from rng (a random
// seed when nil).
func RandomChoices(m *Manifest, rng *rand.Rand) Choices {
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	var ch Choices
	for _, r := range m.rules {
		vals := make([]uint64, r.Options)
		hi := min(r.TotalMax, uint64(r.Options)*r.OptionMax)
		total := r.TotalMin + uint64(rng.IntN(int(hi-r.TotalMin+1)))
		for total > 0 {
			if o := rng.IntN(r.Options); vals[o] < r.OptionMax {
				vals[o]++
				total--
			}
		}
		ch = append(ch, vals)
	}
	return ch
}

// proofContext is the zkp.Context of the proof for option (or totalPosition) of contest in a ballot of credential.
func proofContext(election ID, credential []byte, contest, option uint32) zkp.Context {
	bind := make([]byte, 0, 40)
	bind = append(bind, credential...)
	bind = binary.BigEndian.AppendUint32(bind, contest)
	bind = binary.BigEndian.AppendUint32(bind, option)
	return zkp.Context{Election: election[:], Bind: bind}
}

// PreparedBallot is an encrypted and signed ballot on the voter's device, not yet cast or challenged. It holds
// the nonces, which reveal the choices: a client keeps it private and discards it once the ballot is cast.
type PreparedBallot struct {
	signed    []byte // the SignedBallot that casts
	challenge []byte // the SignedBallot that challenges, signed under challengeSignaturePrefix
	tracking  ID
	choices   Choices
	nonces    [][]*group.Scalar
}

// EncryptBallot encrypts choices under the election's public key, proves them valid, and signs the ballot with
// the credential. Randomness comes from r (crypto/rand when nil).
func EncryptBallot(m *Manifest, pk *elgamal.PublicKey, cred *Credential, ch Choices, r io.Reader) (*PreparedBallot, error) {
	if cred.Election != m.id {
		return nil, fmt.Errorf("ballot: the credential is for election %s, not %s", cred.Election, m.id)
	}
	if err := m.CheckChoices(ch); err != nil {
		return nil, err
	}
	credPK := cred.PublicKey()
	b := &recordv1.Ballot{Election: m.id[:], Credential: credPK[:]}
	pb := &PreparedBallot{choices: ch}
	for c, rule := range m.rules {
		cb := &recordv1.ContestBallot{}
		sum := elgamal.NewCiphertext()
		sumNonce := group.NewScalar()
		var total uint64
		nonces := make([]*group.Scalar, rule.Options)
		for o, v := range ch[c] {
			ctx := proofContext(m.id, credPK[:], uint32(c), uint32(o))
			ct, nonce, proof, err := zkp.EncryptInRange(ctx, pk, v, 0, rule.OptionMax, r)
			if err != nil {
				return nil, fmt.Errorf("ballot: contest %d option %d: %w", c, o, err)
			}
			cb.Ciphertexts = append(cb.Ciphertexts, ct.Bytes())
			cb.Proofs = append(cb.Proofs, proof.Bytes())
			sum.Add(sum, ct)
			sumNonce.Add(sumNonce, nonce)
			total += v
			nonces[o] = nonce
		}
		if rule.NeedsTotalProof {
			ctx := proofContext(m.id, credPK[:], uint32(c), totalPosition)
			proof, err := zkp.ProveRange(ctx, pk, sum, total, sumNonce, rule.TotalMin, rule.TotalMax, r)
			if err != nil {
				return nil, fmt.Errorf("ballot: contest %d total: %w", c, err)
			}
			cb.TotalProof = proof.Bytes()
		}
		b.Contests = append(b.Contests, cb)
		pb.nonces = append(pb.nonces, nonces)
	}
	body := marshal(b)
	pb.signed = signBallot(cred, body, ballotSignaturePrefix)
	pb.challenge = signBallot(cred, body, challengeSignaturePrefix)
	pb.tracking = hashPayload(body)
	return pb, nil
}

// SignBallot encodes b, signs it with the credential for casting, and returns the SignedBallot payload.
func SignBallot(cred *Credential, b *recordv1.Ballot) []byte {
	return signBallot(cred, marshal(b), ballotSignaturePrefix)
}

// SignChallenge encodes b, signs it with the credential for a challenge, and returns the SignedBallot that a
// SpoiledBallot carries.
func SignChallenge(cred *Credential, b *recordv1.Ballot) []byte {
	return signBallot(cred, marshal(b), challengeSignaturePrefix)
}

func signBallot(cred *Credential, body []byte, prefix string) []byte {
	sig := cred.sign(append([]byte(prefix), body...))
	return marshal(&recordv1.SignedBallot{Ballot: body, Signature: sig})
}

// TrackingCode returns the ballot's tracking code, SHA-256 of the Ballot's bytes.
func (b *PreparedBallot) TrackingCode() ID { return b.tracking }

// DraftCast returns the board entry that casts the ballot.
func (b *PreparedBallot) DraftCast() Draft { return Draft{Kind: KindBallot, Payload: b.signed} }

// DraftChallenge returns the board entry that spoils the ballot and reveals its nonces (the Benaloh challenge). It
// carries the ballot signed for a challenge, which cannot be cast; after it the ballot can never be cast.
func (b *PreparedBallot) DraftChallenge() Draft {
	sp := &recordv1.SpoiledBallot{SignedBallot: b.challenge}
	for c, vals := range b.choices {
		op := &recordv1.ContestOpening{Values: append([]uint64(nil), vals...)}
		for _, n := range b.nonces[c] {
			op.Nonces = append(op.Nonces, n.Bytes())
		}
		sp.Openings = append(sp.Openings, op)
	}
	return Draft{Kind: KindSpoiledBallot, Payload: marshal(sp)}
}

// Choices returns the choices the ballot encrypts.
func (b *PreparedBallot) Choices() Choices { return b.choices }

// trackingAlphabet is the alphabet in which tracking codes are shown: RFC 4648 base32, no padding.
var trackingAlphabet = base32.StdEncoding.WithPadding(base32.NoPadding)

// HumanTrackingCode returns the tracking code as a person reads it back: 52 base32 characters in groups of four.
func HumanTrackingCode(id ID) string { return groups(trackingAlphabet.EncodeToString(id[:])) }

// ParseTrackingCode reads a tracking code in the human form (dashes, spaces and case ignored) or as 64 hex digits.
func ParseTrackingCode(s string) (ID, error) {
	if id, err := ParseID(s); err == nil {
		return id, nil
	}
	var id ID
	clean := []byte{}
	for _, r := range s {
		switch {
		case r == '-' || r == ' ':
		case r >= 'a' && r <= 'z':
			clean = append(clean, byte(r-'a'+'A'))
		default:
			clean = append(clean, byte(r))
		}
	}
	b, err := trackingAlphabet.DecodeString(string(clean))
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("tracking code %q: want 52 base32 characters (groups of four) or 64 hex digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Ballot is a decoded ballot: its tracking code, credential and ciphertexts, with the bytes its checks need.
type Ballot struct {
	// TrackingCode is SHA-256 of the Ballot bytes the credential signed: what the voter is shown and looks the
	// ballot up by, and its identity for check 14. A ballot whose tracking code is already on the board, cast or
	// challenged, is a replay, whatever wraps its signature: the SignedBallot wrapper is covered by no signature,
	// so its bytes cannot tell a new ballot from an old one.
	TrackingCode ID
	// Challenged is set for the ballot of a SpoiledBallot, whose signature is under the challenge prefix.
	Challenged bool
	Credential [32]byte
	// Ciphertexts[c][o] is the ciphertext of option o in contest c.
	Ciphertexts [][]*elgamal.Ciphertext
	election    []byte
	body        []byte
	signature   []byte
	pb          *recordv1.Ballot
	// listedKey is set by State.CheckBallotAdmission once it finds the credential on the board's credential
	// lists, every key of which passed signature.CheckKey when its list was read (parseCredentialList):
	// CheckSignature then does not check the key again (issue 15: a scalar multiplication per ballot on the
	// node's accept path). The check's verdict is the same either way.
	listedKey bool
}

// ParseBallot decodes a SignedBallot payload and checks its shape against the manifest: contest and option
// counts, canonical ciphertexts, proof lengths. It does not check the signature, the election or the proofs.
func ParseBallot(m *Manifest, payload []byte) (*Ballot, error) {
	var sb recordv1.SignedBallot
	if err := unmarshal(payload, &sb); err != nil {
		return nil, fmt.Errorf("signed ballot: %w", err)
	}
	var pb recordv1.Ballot
	if err := unmarshal(sb.Ballot, &pb); err != nil {
		return nil, fmt.Errorf("ballot: %w", err)
	}
	b := &Ballot{TrackingCode: hashPayload(sb.Ballot), election: pb.Election, body: sb.Ballot, signature: sb.Signature, pb: &pb}
	if len(pb.Credential) != len(b.Credential) {
		return nil, fmt.Errorf("ballot: credential is %d bytes, want 32", len(pb.Credential))
	}
	copy(b.Credential[:], pb.Credential)
	if len(sb.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("ballot: signature is %d bytes, want %d", len(sb.Signature), ed25519.SignatureSize)
	}
	if len(pb.Contests) != len(m.rules) {
		return nil, fmt.Errorf("ballot: %d contests, the manifest has %d", len(pb.Contests), len(m.rules))
	}
	for c, rule := range m.rules {
		cb := pb.Contests[c]
		if len(cb.Ciphertexts) != rule.Options || len(cb.Proofs) != rule.Options {
			return nil, fmt.Errorf("ballot: contest %d: %d ciphertexts and %d proofs, want %d of each", c, len(cb.Ciphertexts), len(cb.Proofs), rule.Options)
		}
		cts := make([]*elgamal.Ciphertext, rule.Options)
		for o := range cts {
			ct, err := new(elgamal.Ciphertext).SetCanonicalBytes(cb.Ciphertexts[o])
			if err != nil {
				return nil, fmt.Errorf("ballot: contest %d option %d: %w", c, o, err)
			}
			cts[o] = ct
			if want := zkp.RangeProofValueSize * int(rule.OptionMax+1); len(cb.Proofs[o]) != want {
				return nil, fmt.Errorf("ballot: contest %d option %d: proof is %d bytes, want %d", c, o, len(cb.Proofs[o]), want)
			}
		}
		wantTotal := 0
		if rule.NeedsTotalProof {
			wantTotal = zkp.RangeProofValueSize * int(rule.TotalMax-rule.TotalMin+1)
		}
		if len(cb.TotalProof) != wantTotal {
			return nil, fmt.Errorf("ballot: contest %d: total proof is %d bytes, want %d", c, len(cb.TotalProof), wantTotal)
		}
		b.Ciphertexts = append(b.Ciphertexts, cts)
	}
	return b, nil
}

// TrackingCodeOf returns the tracking code of a ballot or spoiled-ballot entry's payload, SHA-256 of the Ballot
// bytes inside it, without checking anything else of it but its encoding.
func TrackingCodeOf(kind Kind, payload []byte) (ID, error) {
	if kind == KindSpoiledBallot {
		var sp recordv1.SpoiledBallot
		if err := unmarshal(payload, &sp); err != nil {
			return ID{}, fmt.Errorf("spoiled ballot: %w", err)
		}
		payload = sp.SignedBallot
	} else if kind != KindBallot {
		return ID{}, fmt.Errorf("entry kind %s holds no ballot", kind)
	}
	var sb recordv1.SignedBallot
	if err := unmarshal(payload, &sb); err != nil {
		return ID{}, fmt.Errorf("signed ballot: %w", err)
	}
	return hashPayload(sb.Ballot), nil
}

// CheckElection reports whether the ballot names the election.
func (b *Ballot) CheckElection(m *Manifest) error {
	if string(b.election) != string(m.id[:]) {
		return fmt.Errorf("the ballot is for election %x, not %s", b.election, m.id)
	}
	return nil
}

// CheckSignature reports whether the credential signed the ballot.
func (b *Ballot) CheckSignature() error {
	prefix := ballotSignaturePrefix
	if b.Challenged {
		prefix = challengeSignaturePrefix
	}
	verify := signature.Verify
	if b.listedKey {
		verify = signature.VerifyCheckedKey
	}
	if err := verify(b.Credential[:], append([]byte(prefix), b.body...), b.signature); err != nil {
		if errors.Is(err, signature.ErrBadKey) {
			return fmt.Errorf("the credential is %v", err)
		}
		if b.Challenged {
			return fmt.Errorf("the credential's signature for a challenge (%q) does not verify", strings.TrimSuffix(prefix, "\x00"))
		}
		return fmt.Errorf("the credential's signature for casting (%q) does not verify", strings.TrimSuffix(prefix, "\x00"))
	}
	return nil
}

// CheckProofs verifies every range proof of the ballot, naming the first that fails.
func (b *Ballot) CheckProofs(m *Manifest, pk *elgamal.PublicKey) error {
	return b.checkProofs(context.Background(), m, pk)
}

// batchValues bounds the values whose equations checkProofs checks in one multi-scalar multiplication (two
// commitments each, about 1.5 KB of tables per commitment): the demo's ballot has 62, a ballot of the largest
// shape a manifest allows hundreds of thousands.
const batchValues = 512

// proofPosition is a proof's place in a ballot: option o of contest c, or its total when o is -1.
type proofPosition struct{ contest, option int }

func (p proofPosition) String() string {
	if p.option < 0 {
		return fmt.Sprintf("contest %d total", p.contest)
	}
	return fmt.Sprintf("contest %d option %d", p.contest, p.option)
}

// checkProofs is CheckProofs, stopping with ctx's error when ctx ends: a ballot of the largest shape a manifest
// allows takes seconds to verify, and the node stops when its client goes.
//
// Each proof is decoded and its challenge checked in the ballot's order, and its equations are added to a
// zkp.RangeBatch, checked with one multi-scalar multiplication per ballot (or per batchValues values). The error
// names the first proof, in the ballot's order, that RangeProof.Verify would refuse, with its error: a proof that
// fails to decode or whose challenge fails is reported only once the equations of the proofs before it hold, and
// a failed batch is checked again proof by proof (docs/protocol.md section 8.4).
func (b *Ballot) checkProofs(ctx context.Context, m *Manifest, pk *elgamal.PublicKey) error {
	bt := zkp.NewRangeBatch(pk)
	var added []proofPosition // the position of each proof in bt
	verify := func() error {
		i, err := bt.Verify()
		if err != nil {
			if i < 0 {
				return err
			}
			return fmt.Errorf("%v: %w", added[i], err)
		}
		added = added[:0]
		return nil
	}
	// fail reports err for the proof at pos, unless a proof before it fails.
	fail := func(pos proofPosition, err error) error {
		if verr := verify(); verr != nil {
			return verr
		}
		return fmt.Errorf("%v: %w", pos, err)
	}
	for c, rule := range m.rules {
		if err := ctx.Err(); err != nil {
			return err
		}
		cb := b.pb.Contests[c]
		for o, ct := range b.Ciphertexts[c] {
			if err := ctx.Err(); err != nil {
				return err
			}
			pos := proofPosition{c, o}
			proof, err := zkp.ParseRangeProof(cb.Proofs[o], 0, rule.OptionMax)
			if err != nil {
				return fail(pos, err)
			}
			// cb.Ciphertexts[o] is the encoding ct was decoded from (ParseBallot), canonical: ct's encoding.
			if err := bt.Add(proofContext(m.id, b.Credential[:], uint32(c), uint32(o)), proof, ct, cb.Ciphertexts[o], 0, rule.OptionMax); err != nil {
				return fail(pos, err)
			}
			added = append(added, pos)
			if bt.Values() >= batchValues {
				if err := verify(); err != nil {
					return err
				}
			}
		}
		if rule.NeedsTotalProof {
			pos := proofPosition{c, -1}
			proof, err := zkp.ParseRangeProof(cb.TotalProof, rule.TotalMin, rule.TotalMax)
			if err != nil {
				return fail(pos, err)
			}
			if err := bt.AddSum(proofContext(m.id, b.Credential[:], uint32(c), totalPosition), proof, b.Ciphertexts[c], rule.TotalMin, rule.TotalMax); err != nil {
				return fail(pos, err)
			}
			added = append(added, pos)
			if bt.Values() >= batchValues {
				if err := verify(); err != nil {
					return err
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return verify()
}
