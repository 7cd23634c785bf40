// Package trustee is the trustee daemon: it keeps the trustee's secrets in its own bbolt store, encrypted at rest
// under a passphrase, follows the board of a Recount node over gRPC (client/grpcnode), takes part in the key
// ceremony, and posts its partial decryption of the tally. `recount trustee` and `recount demo` run it.
package trustee

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/recount-vote/recount/crypto/dkg"
	"github.com/recount-vote/recount/crypto/group"
	"github.com/recount-vote/recount/election"
)

// A store is one bbolt file, mode 0600, with one bucket. Secrets are sealed with XChaCha20-Poly1305 under a
// key derived from the passphrase with Argon2id (parameters and salt stored in the clear); each sealed value's
// associated data is the store's format and the value's name, so that no sealed value can be moved to another
// place. What is public (the trustee's name, its index and election, its commitment entry) is stored in the
// clear.
//
//	format    "recount-trustee/v1"
//	kdf       JSON {"alg":"argon2id","time":..,"memory_kib":..,"threads":..,"salt":".."}
//	check     sealed "recount-trustee": tells a wrong passphrase from a damaged file
//	keys      sealed: the trustee's long-term keys (election.TrusteeKeys.Bytes)
//	name      the trustee's name
//	election  the election this store took part in (32 bytes) and the trustee's index (uint32)
//	commit    the trustee's KEY_COMMITMENT payload, kept to post again after a crash, never remade
//	dealt     sealed: the shares dealt (uint32 recipient || 32-byte scalar, each)
//	verdict   the trustee's KEY_VERDICT payload
//	received  sealed: the good shares received (same encoding)
//	keyshare  sealed: the final key share (dkg.KeyShare.Bytes)

const storeFormat = "recount-trustee/v1"

var bucket = []byte("trustee")

// ErrPassphrase is returned when the passphrase does not open the store.
var ErrPassphrase = errors.New("trustee store: wrong passphrase")

// KDFParams are the Argon2id parameters of a new store.
type KDFParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// DefaultKDF is used by Create when no parameters are given: 64 MiB, 2 passes.
var DefaultKDF = KDFParams{Time: 2, MemoryKiB: 64 << 10, Threads: 2}

type kdfRecord struct {
	Alg string `json:"alg"`
	KDFParams
	Salt []byte `json:"salt"`
}

// Store is an open trustee store.
type Store struct {
	db   *bolt.DB
	aead interface {
		Seal(dst, nonce, plaintext, additionalData []byte) []byte
		Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
		NonceSize() int
	}
	path string
}

func deriveKey(pass []byte, rec kdfRecord) []byte {
	return argon2.IDKey(pass, rec.Salt, rec.Time, rec.MemoryKiB, rec.Threads, chacha20poly1305.KeySize)
}

// Create makes a new store at path holding freshly generated trustee keys, sealed under passphrase. It refuses
// to overwrite a file. kdf nil means DefaultKDF.
func Create(path string, passphrase []byte, name string, kdf *KDFParams) (*Store, *election.TrusteeKeys, error) {
	if len(passphrase) == 0 {
		return nil, nil, errors.New("trustee store: the passphrase is empty")
	}
	if name == "" {
		return nil, nil, errors.New("trustee store: the trustee needs a name")
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, nil, fmt.Errorf("trustee store: %s exists: a store is never overwritten (it holds secrets)", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("trustee store: %w", err)
	}
	params := DefaultKDF
	if kdf != nil {
		params = *kdf
	}
	if params.Time == 0 || params.MemoryKiB < 8 || params.Threads == 0 {
		return nil, nil, fmt.Errorf("trustee store: invalid Argon2id parameters %+v", params)
	}
	rec := kdfRecord{Alg: "argon2id", KDFParams: params, Salt: make([]byte, 16)}
	if _, err := rand.Read(rec.Salt); err != nil {
		return nil, nil, err
	}
	keys, err := election.GenerateTrusteeKeys(nil)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("trustee store: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("trustee store: %w", err)
	}
	s, err := newStore(db, path, passphrase, rec)
	if err != nil {
		db.Close()
		os.Remove(path)
		return nil, nil, err
	}
	recJSON, _ := json.Marshal(rec)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucket)
		if err != nil {
			return err
		}
		for _, kv := range [][2][]byte{
			{[]byte("format"), []byte(storeFormat)},
			{[]byte("kdf"), recJSON},
			{[]byte("check"), s.seal("check", []byte("recount-trustee"))},
			{[]byte("keys"), s.seal("keys", keys.Bytes())},
			{[]byte("name"), []byte(name)},
		} {
			if err := b.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		os.Remove(path)
		return nil, nil, fmt.Errorf("trustee store: %w", err)
	}
	return s, keys, nil
}

func newStore(db *bolt.DB, path string, passphrase []byte, rec kdfRecord) (*Store, error) {
	aead, err := chacha20poly1305.NewX(deriveKey(passphrase, rec))
	if err != nil {
		return nil, err
	}
	return &Store{db: db, aead: aead, path: path}, nil
}

// Open opens an existing store with its passphrase. Another process holding the store makes it fail after a
// second.
func Open(path string, passphrase []byte) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("trustee store: %w (create one with `recount trustee init`)", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("trustee store %s: %w (is another trustee process using it?)", path, err)
	}
	var format, recJSON, check []byte
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b == nil {
			return errors.New("not a trustee store")
		}
		format, recJSON, check = slices.Clone(b.Get([]byte("format"))), slices.Clone(b.Get([]byte("kdf"))), slices.Clone(b.Get([]byte("check")))
		return nil
	})
	if err == nil && string(format) != storeFormat {
		err = fmt.Errorf("format %q, want %q", format, storeFormat)
	}
	var rec kdfRecord
	if err == nil {
		if err = json.Unmarshal(recJSON, &rec); err == nil && (rec.Alg != "argon2id" || len(rec.Salt) < 16 || rec.Time == 0 || rec.Threads == 0) {
			err = fmt.Errorf("unsupported key derivation %q", rec.Alg)
		}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("trustee store %s: %w", path, err)
	}
	s, err := newStore(db, path, passphrase, rec)
	if err != nil {
		db.Close()
		return nil, err
	}
	if pt, err := s.open("check", check); err != nil || string(pt) != "recount-trustee" {
		db.Close()
		return nil, fmt.Errorf("%w for %s", ErrPassphrase, path)
	}
	return s, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) seal(name string, plaintext []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+16)
	if _, err := rand.Read(nonce); err != nil {
		panic("trustee store: crypto/rand failed: " + err.Error())
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(storeFormat+"/"+name))
}

func (s *Store) open(name string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns {
		return nil, fmt.Errorf("trustee store %s: %s is damaged", s.path, name)
	}
	pt, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(storeFormat+"/"+name))
	if err != nil {
		return nil, fmt.Errorf("trustee store %s: %s does not decrypt (damaged file?)", s.path, name)
	}
	return pt, nil
}

func (s *Store) get(name string) ([]byte, error) {
	var v []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v = slices.Clone(tx.Bucket(bucket).Get([]byte(name)))
		return nil
	})
	return v, err
}

func (s *Store) getSealed(name string) ([]byte, error) {
	v, err := s.get(name)
	if err != nil || v == nil {
		return nil, err
	}
	return s.open(name, v)
}

// put writes name=value pairs in one transaction; sealed names are sealed.
func (s *Store) put(pairs map[string][]byte, sealed ...string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for k, v := range pairs {
			if slices.Contains(sealed, k) {
				v = s.seal(k, v)
			}
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Keys returns the trustee's long-term keys.
func (s *Store) Keys() (*election.TrusteeKeys, error) {
	b, err := s.getSealed("keys")
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("trustee store %s holds no keys", s.path)
	}
	return election.ParseTrusteeKeys(b)
}

// Name returns the trustee's name.
func (s *Store) Name() string {
	b, _ := s.get("name")
	return string(b)
}

// Election returns the election the store is bound to and the trustee's index in it (ok false if none yet).
func (s *Store) Election() (id election.ID, index int, ok bool, err error) {
	b, err := s.get("election")
	if err != nil || b == nil {
		return id, 0, false, err
	}
	if len(b) != 36 {
		return id, 0, false, fmt.Errorf("trustee store %s: the election record is damaged", s.path)
	}
	copy(id[:], b)
	return id, int(binary.BigEndian.Uint32(b[32:])), true, nil
}

// Bind ties the store to an election as trustee index; a store takes part in one election only.
func (s *Store) Bind(id election.ID, index int) error {
	old, oldIndex, ok, err := s.Election()
	if err != nil {
		return err
	}
	if ok {
		if old != id || oldIndex != index {
			return fmt.Errorf("trustee store %s took part in election %s as trustee %d: a store serves one election (make a new one with `recount trustee init`)", s.path, old, oldIndex)
		}
		return nil
	}
	return s.put(map[string][]byte{"election": binary.BigEndian.AppendUint32(slices.Clone(id[:]), uint32(index))})
}

func encodeShares(m map[int]*group.Scalar) []byte {
	var out []byte
	idx := make([]int, 0, len(m))
	for j := range m {
		idx = append(idx, j)
	}
	slices.Sort(idx)
	for _, j := range idx {
		out = binary.BigEndian.AppendUint32(out, uint32(j))
		out = append(out, m[j].Bytes()...)
	}
	return out
}

func decodeShares(b []byte) (map[int]*group.Scalar, error) {
	const rec = 4 + 32
	if len(b)%rec != 0 {
		return nil, errors.New("damaged share list")
	}
	out := map[int]*group.Scalar{}
	for ; len(b) > 0; b = b[rec:] {
		sc, err := group.NewScalar().SetCanonicalBytes(b[4:rec])
		if err != nil {
			return nil, err
		}
		out[int(binary.BigEndian.Uint32(b))] = sc
	}
	return out, nil
}

// SaveCommitment keeps the commitment entry and the dealt shares, before the entry is posted.
func (s *Store) SaveCommitment(payload []byte, dealt election.DealtShares) error {
	return s.put(map[string][]byte{"commit": payload, "dealt": encodeShares(dealt)}, "dealt")
}

// Commitment returns the kept commitment entry and dealt shares (nil if none).
func (s *Store) Commitment() ([]byte, election.DealtShares, error) {
	payload, err := s.get("commit")
	if err != nil || payload == nil {
		return nil, nil, err
	}
	b, err := s.getSealed("dealt")
	if err != nil {
		return nil, nil, err
	}
	dealt, err := decodeShares(b)
	if err != nil {
		return nil, nil, fmt.Errorf("trustee store %s: dealt shares: %w", s.path, err)
	}
	return payload, dealt, nil
}

// SaveVerdict keeps the verdict entry and the good shares received, before the entry is posted.
func (s *Store) SaveVerdict(payload []byte, received map[int]*group.Scalar) error {
	return s.put(map[string][]byte{"verdict": payload, "received": encodeShares(received)}, "received")
}

// Verdict returns the kept verdict entry and received shares (nil if none).
func (s *Store) Verdict() ([]byte, map[int]*group.Scalar, error) {
	payload, err := s.get("verdict")
	if err != nil || payload == nil {
		return nil, nil, err
	}
	b, err := s.getSealed("received")
	if err != nil {
		return nil, nil, err
	}
	rcv, err := decodeShares(b)
	if err != nil {
		return nil, nil, fmt.Errorf("trustee store %s: received shares: %w", s.path, err)
	}
	return payload, rcv, nil
}

// SaveKeyShare keeps the trustee's final key share.
func (s *Store) SaveKeyShare(ks *dkg.KeyShare) error {
	return s.put(map[string][]byte{"keyshare": ks.Bytes()}, "keyshare")
}

// KeyShare returns the final key share, or nil before the ceremony ended.
func (s *Store) KeyShare() (*dkg.KeyShare, error) {
	b, err := s.getSealed("keyshare")
	if err != nil || b == nil {
		return nil, err
	}
	return dkg.ParseKeyShare(b)
}
