package e2e

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// stageProxy stands in front of services the way an API Gateway stage does: it serves them under /dev
// only, and records every path it was asked for, so a test can see exactly what a client built.
type stageProxy struct {
	mu    sync.Mutex
	paths []string
}

// front starts a proxy to target and returns its base URL (without the stage).
func (p *stageProxy) front(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.EscapedPath())
		p.mu.Unlock()
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/dev/")
		if !ok {
			http.Error(w, `{"message":"Missing Authentication Token"}`, http.StatusForbidden)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.RawPath = "/" + rest
		r2.URL.Path, _ = url.PathUnescape(r2.URL.RawPath)
		rp.ServeHTTP(w, r2)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (p *stageProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...)
}
