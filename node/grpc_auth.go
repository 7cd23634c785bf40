package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// AdminAuth says who may call AdminService: the holder of a bearer token, a client with a certificate from the
// commission's CA (mutual TLS), or, when both are set, only a caller with both. With neither, admin calls are
// refused. A caller who fails gets PermissionDenied and changes nothing.
type AdminAuth struct {
	// Token is the bearer token ("authorization: Bearer <token>"); nil for none.
	Token []byte
	// ClientCert requires a client certificate verified by the server's TLS configuration (tls.Config.ClientCAs
	// holding the commission's CA, ClientAuth at least tls.VerifyClientCertIfGiven).
	ClientCert bool
}

// Enabled reports whether any admin call can succeed.
func (a AdminAuth) Enabled() bool { return len(a.Token) > 0 || a.ClientCert }

// MinTokenLength is the shortest admin token accepted, in bytes.
const MinTokenLength = 16

// ReadTokenFile reads a bearer token from a file (surrounding white space removed). The file must not be
// readable by group or others, and the token must be at least MinTokenLength bytes.
func ReadTokenFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("admin token: %s is readable by others (mode %v): chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	tok := bytes.TrimSpace(b)
	if len(tok) < MinTokenLength {
		return nil, fmt.Errorf("admin token: %s holds %d bytes, want at least %d (for example: head -c 32 /dev/urandom | base64 > %s)", path, len(tok), MinTokenLength, path)
	}
	if bytes.ContainsAny(tok, " \t\r\n") {
		return nil, fmt.Errorf("admin token: %s holds white space inside the token", path)
	}
	return tok, nil
}

func denied(format string, args ...any) error {
	return refuse(FaultDenied, ReasonAdminAuth, nil, format, args...).status().Err()
}

// authorize checks an admin call's credentials.
func (a AdminAuth) authorize(ctx context.Context) error {
	if !a.Enabled() {
		return denied("admin calls are disabled on this node: start recountd with --admin-token-file or --admin-client-ca")
	}
	if a.ClientCert {
		p, ok := peer.FromContext(ctx)
		var verified bool
		if ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok {
				verified = len(ti.State.VerifiedChains) > 0
			}
		}
		if !verified {
			return denied("admin calls need a client certificate from the commission's CA")
		}
	}
	if len(a.Token) > 0 {
		md, _ := metadata.FromIncomingContext(ctx)
		var got []byte
		for _, v := range md.Get("authorization") {
			if t, ok := strings.CutPrefix(v, "Bearer "); ok {
				got = []byte(t)
			}
		}
		// Compare digests, so that the time taken says nothing of the token, not even its length.
		want, have := sha256.Sum256(a.Token), sha256.Sum256(got)
		if got == nil || subtle.ConstantTimeCompare(want[:], have[:]) != 1 {
			return denied("admin calls need the commission's bearer token (missing or wrong)")
		}
	}
	return nil
}
