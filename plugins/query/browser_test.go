package query

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/trstream/trstream/internal/testenv"
)

// TestBrowser drives the web editor in Debian's Chromium with playwright-core
// (web_test/editor.test.mjs, run with node --test). It needs
//
//	apt-get install -y chromium && (cd plugins/query/web_test && npm ci)
//
// and skips, saying so, when either is missing.
func TestBrowser(t *testing.T) {
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		testenv.Missing(t, "browser test: %s not found (apt-get install -y chromium)", chromium)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "browser test: node not found")
	}
	dir, err := filepath.Abs("web_test")
	require.NoError(t, err)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		testenv.Missing(t, "browser test: web_test/node_modules missing (cd plugins/query/web_test && npm ci)")
	}

	e, _ := openTestEngine(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: NewServer(e, ServerOptions{})}}
	ts.Start()
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "editor.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TRSTREAM_URL="+ts.URL+"/", "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	require.NoError(t, err, "browser test failed")

	// The editor's save went through the API into the state file.
	q, err := e.SavedQuery("daily_totals")
	require.NoError(t, err)
	require.Contains(t, q.SQL, "sum(amount)")
}
