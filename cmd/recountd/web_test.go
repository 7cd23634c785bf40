package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRecountdWebListen: with RECOUNTD_WEB_LISTEN (--web-listen) the node serves the voters' pages and their JSON
// API, and logs the served files' hashes, which /hashes lists too.
func TestRecountdWebListen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "board")
	env := map[string]string{"RECOUNTD_WEB_LISTEN": "127.0.0.1:0"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"--data-dir", dir, "--plaintext", "--listen", "127.0.0.1:0", "--origin", "test.recount.local/web"}, lookup, &logs, nil)
	}()
	addr := regexp.MustCompile(`web=(127\.0\.0\.1:[0-9]+)`)
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := addr.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		}
	}
	if base == "" {
		t.Fatalf("recountd logged no web address: %s", logs.String())
	}
	get := func(path string) string {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
			}
		}
	}
	if e := get("/api/v1/election"); !strings.Contains(e, `"phase":"PHASE_EMPTY"`) {
		t.Errorf("/api/v1/election: %s", e)
	}
	if p := get("/vote"); !strings.Contains(p, "This server holds no election yet.") {
		t.Errorf("/vote:\n%s", p)
	}
	hashes := get("/hashes")
	wasm := regexp.MustCompile(`(?m)^([0-9a-f]{64})  /static/booth\.wasm$`).FindStringSubmatch(hashes)
	if wasm == nil || !strings.Contains(logs.String(), "sha256="+wasm[1]+" path=/static/booth.wasm") {
		t.Errorf("the booth's hash is not both logged and at /hashes:\n%s\nlogs: %s", hashes, logs.String())
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d: %s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("recountd did not stop")
	}
}
