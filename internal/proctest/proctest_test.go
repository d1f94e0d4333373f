package proctest

import (
	"os/exec"
	"strings"
	"sync"
	"testing"
)

func TestMain(m *testing.M) { Main(m) }

func TestBuildOnceAndRun(t *testing.T) {
	var wg sync.WaitGroup
	paths := make([]string, 4)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i] = Build(t, "github.com/b2b/backoffice/db/cmd/dbtool")
		}()
	}
	wg.Wait()
	for _, p := range paths[1:] {
		if p != paths[0] {
			t.Fatalf("Build returned %v, want one path built once", paths)
		}
	}
	if !strings.HasSuffix(paths[0], "/dbtool") {
		t.Errorf("binary %s, want it named dbtool", paths[0])
	}
	out, err := exec.Command(paths[0], "frobnicate").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "usage: dbtool migrate|seed|setup") {
		t.Errorf("dbtool frobnicate = %v, %q; want the usage error", err, out)
	}
}

func TestBufferLines(t *testing.T) {
	var b Buffer
	b.Write([]byte("one\ntwo\nthr"))
	if got := b.Lines(); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("Lines = %q, want [one two] (the unfinished line is not complete)", got)
	}
	b.Write([]byte("ee\n"))
	if got := b.String(); got != "one\ntwo\nthree\n" {
		t.Errorf("String = %q", got)
	}
}
