package node

import (
	"net"
	"testing"
)

// TestClientKey: the streams of one IPv4 address, or of one IPv6 /64, count as one client's, whatever the port.
func TestClientKey(t *testing.T) {
	tcp := func(addr string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{tcp("192.0.2.7:4000"), "192.0.2.7"},
		{tcp("[::ffff:192.0.2.7]:4001"), "192.0.2.7"},
		{tcp("[2001:db8:1:2:aaaa::1]:4000"), "2001:db8:1:2::/64"},
		{tcp("[2001:db8:1:2:bbbb::9]:4002"), "2001:db8:1:2::/64"},
		{tcp("[2001:db8:1:3::1]:4000"), "2001:db8:1:3::/64"},
		{&net.UnixAddr{Name: "/run/recountd.sock", Net: "unix"}, "/run/recountd.sock"},
	} {
		if got := clientKey(tc.addr); got != tc.want {
			t.Errorf("clientKey(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
