package query

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (c apiClient) do(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	require.NoError(c.t, err)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return res, b
}

func (c apiClient) query(req QueryRequest) (int, map[string]any) {
	c.t.Helper()
	res, b := c.do("POST", "/v1/query", req)
	var out map[string]any
	require.NoError(c.t, json.Unmarshal(b, &out), string(b))
	return res.StatusCode, out
}

func startServer(t *testing.T, mod func(*Options), token string) (apiClient, *Engine, string) {
	t.Helper()
	e, dir := openTestEngine(t, mod)
	ts := httptest.NewServer(NewServer(e, ServerOptions{Token: token}))
	t.Cleanup(ts.Close)
	return apiClient{t: t, base: ts.URL, token: token}, e, dir
}

func TestHTTPQueryAndErrors(t *testing.T) {
	c, _, _ := startServer(t, func(o *Options) { o.Timeout = 2 * time.Second; o.MaxRows = 100 }, "")
	code, body := c.query(QueryRequest{SQL: "SELECT event_date, count(*) AS n FROM transactions GROUP BY 1 ORDER BY 1"})
	require.Equal(t, 200, code, body)
	assert.Equal(t, []any{map[string]any{"name": "event_date", "type": "DATE"}, map[string]any{"name": "n", "type": "BIGINT"}}, body["columns"])
	assert.Equal(t, []any{[]any{"2024-03-01", float64(300)}, []any{"2024-03-02", float64(300)}, []any{"2024-03-03", float64(300)}}, body["rows"])
	assert.Equal(t, float64(3), body["row_count"])
	assert.Equal(t, false, body["truncated"])
	assert.Contains(t, body, "elapsed_ms")

	code, body = c.query(QueryRequest{SQL: "SELECT * FROM transactions"})
	assert.Equal(t, 200, code)
	assert.Equal(t, true, body["truncated"])
	assert.Equal(t, float64(100), body["row_count"], "server max rows")
	code, body = c.query(QueryRequest{SQL: "SELECT * FROM transactions", Limit: 7})
	assert.Equal(t, 200, code)
	assert.Equal(t, float64(7), body["row_count"])

	for _, tc := range []struct {
		sql    string
		status int
		msg    string
	}{
		{"SELEKT 1", 400, "Parser Error"},
		{"SELECT missing FROM transactions", 400, "Binder Error"},
		{"SELECT 1; COPY transactions TO '/tmp/x.csv'", 403, "exactly one statement"},
		{"COPY transactions TO '/tmp/x.csv'", 403, "Cannot access file"},
		{"SELECT * FROM read_text('/etc/passwd')", 403, "Permission Error"},
		{"ATTACH '/tmp/x.db'", 403, "ATTACH"},
		{"SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range + b.range = 3", 504, "timed out"},
	} {
		code, body := c.query(QueryRequest{SQL: tc.sql})
		assert.Equal(t, tc.status, code, tc.sql)
		assert.Contains(t, body["error"], tc.msg, tc.sql)
	}
	code, _ = c.query(QueryRequest{SQL: "SELECT 1", Format: "xml"})
	assert.Equal(t, 400, code)
	res, _ := c.do("POST", "/v1/query", map[string]any{"sql": "SELECT 1", "bogus": 1})
	assert.Equal(t, 400, res.StatusCode)

	res, b := c.do("GET", "/metrics", nil)
	assert.Equal(t, 200, res.StatusCode)
	for _, m := range []string{"query_total 11", `query_errors_total{kind="refused"} 4`, "query_timeouts_total 1", "query_seconds_bucket", `query_errors_total{kind="invalid"} 3`} {
		assert.Contains(t, string(b), m)
	}
}

// (4) 50 concurrent queries through HTTP all succeed with the right answer.
func TestHTTPConcurrentQueries(t *testing.T) {
	c, _, _ := startServer(t, nil, "")
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			day := testDates[i%len(testDates)]
			b, _ := json.Marshal(QueryRequest{SQL: fmt.Sprintf("SELECT count(*) AS n, %d AS i FROM transactions WHERE event_date = '%s'", i, day)})
			res, err := http.Post(c.base+"/v1/query", "application/json", bytes.NewReader(b))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer res.Body.Close()
			var out Result
			if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
				errs <- fmt.Sprintf("status %d: %v", res.StatusCode, err)
				return
			}
			want := []any{float64(len(testTypes) * filesPerPartition * rowsPerFile), float64(i)}
			if fmt.Sprint(out.Rows[0]) != fmt.Sprint(want) {
				errs <- fmt.Sprintf("query %d: got %v want %v", i, out.Rows[0], want)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// (7) ndjson and csv stream the whole result row by row (no cap beyond an
// explicit limit), with the columns in a header and truncation in a trailer.
func TestHTTPStreaming(t *testing.T) {
	c, _, _ := startServer(t, func(o *Options) { o.MaxRows = 10 }, "")
	total := len(testDates) * len(testTypes) * filesPerPartition * rowsPerFile
	post := func(req QueryRequest) *http.Response {
		b, _ := json.Marshal(req)
		res, err := http.Post(c.base+"/v1/query", "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		return res
	}

	res := post(QueryRequest{SQL: "SELECT transaction_id, amount, event_date FROM transactions ORDER BY transaction_id", Format: "ndjson"})
	require.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "application/x-ndjson", res.Header.Get("Content-Type"))
	assert.JSONEq(t, `[{"name":"transaction_id","type":"VARCHAR"},{"name":"amount","type":"DECIMAL(18,4)"},{"name":"event_date","type":"DATE"}]`, res.Header.Get("X-Trstream-Columns"))
	sc := bufio.NewScanner(res.Body)
	n := 0
	for sc.Scan() {
		var row map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &row), sc.Text())
		if n == 0 {
			assert.Equal(t, "00000000-0000-4000-8000-000000000001", row["transaction_id"])
			assert.Equal(t, 1.2346, row["amount"])
			assert.Equal(t, "2024-03-01", row["event_date"])
			assert.True(t, strings.HasPrefix(sc.Text(), `{"transaction_id":`), "keys in column order")
		}
		n++
	}
	res.Body.Close()
	assert.Equal(t, total, n, "more than MaxRows: streams are not capped")
	assert.Equal(t, "false", res.Trailer.Get("X-Trstream-Truncated"))

	res = post(QueryRequest{SQL: "SELECT event_date, type, amount FROM transactions ORDER BY amount DESC", Format: "csv", Limit: 25})
	require.Equal(t, 200, res.StatusCode)
	recs, err := csv.NewReader(res.Body).ReadAll()
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, []string{"event_date", "type", "amount"}, recs[0])
	assert.Len(t, recs, 26)
	assert.Equal(t, "true", res.Trailer.Get("X-Trstream-Truncated"))

	res = post(QueryRequest{SQL: "COPY transactions TO '/tmp/x'", Format: "csv"})
	assert.Equal(t, 403, res.StatusCode, "errors before the first row keep their status")
	res.Body.Close()
}

// (6) A saved query survives a server restart and is a view.
func TestHTTPSavedQueriesSurviveRestart(t *testing.T) {
	e, dir := openTestEngine(t, nil)
	ts := httptest.NewServer(NewServer(e, ServerOptions{}))
	c := apiClient{t: t, base: ts.URL}
	res, b := c.do("POST", "/v1/saved", SavedQuery{Name: "by_type", SQL: "SELECT type, sum(amount) AS total FROM transactions GROUP BY 1 ORDER BY 1", Description: "totals"})
	require.Equal(t, 201, res.StatusCode, string(b))
	res, _ = c.do("PUT", "/v1/saved/by_type", SavedQuery{SQL: "SELECT type, sum(amount) AS total, count(*) AS n FROM transactions GROUP BY 1 ORDER BY 1"})
	require.Equal(t, 200, res.StatusCode)
	res, b = c.do("POST", "/v1/saved", SavedQuery{Name: "bad", SQL: "DROP VIEW transactions"})
	assert.Equal(t, 403, res.StatusCode, string(b))
	_, want := c.query(QueryRequest{SQL: "SELECT * FROM by_type"})
	ts.Close()
	require.NoError(t, e.Close())

	e2, err := Open(context.Background(), Options{Source: GlobSource(dir), LakeDir: dir})
	require.NoError(t, err)
	defer e2.Close()
	ts2 := httptest.NewServer(NewServer(e2, ServerOptions{}))
	defer ts2.Close()
	c.base = ts2.URL
	res, b = c.do("GET", "/v1/saved", nil)
	require.Equal(t, 200, res.StatusCode)
	var list struct{ Saved []SavedQuery }
	require.NoError(t, json.Unmarshal(b, &list))
	require.Len(t, list.Saved, 1)
	assert.Equal(t, "by_type", list.Saved[0].Name)
	assert.Contains(t, list.Saved[0].SQL, "count(*) AS n")
	_, got := c.query(QueryRequest{SQL: "SELECT * FROM by_type"})
	assert.Equal(t, want["rows"], got["rows"])
	res, b = c.do("GET", "/v1/tables", nil)
	require.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(b), `"name":"by_type","kind":"saved"`)
	res, _ = c.do("DELETE", "/v1/saved/by_type", nil)
	assert.Equal(t, 204, res.StatusCode)
	res, _ = c.do("GET", "/v1/saved/by_type", nil)
	assert.Equal(t, 404, res.StatusCode)
}

func TestHTTPTables(t *testing.T) {
	c, _, _ := startServer(t, nil, "")
	res, b := c.do("GET", "/v1/tables/transactions", nil)
	require.Equal(t, 200, res.StatusCode, string(b))
	var info TableInfo
	require.NoError(t, json.Unmarshal(b, &info))
	assert.Equal(t, len(testDates)*len(testTypes)*filesPerPartition, info.Files)
	assert.Len(t, info.Partitions, len(testDates)*len(testTypes))
	assert.Equal(t, map[string]string{"event_date": "2024-03-01", "type": "payment"}, info.Partitions[0].Values)
	assert.Contains(t, info.Columns, Column{Name: "amount", Type: "DECIMAL(18,4)"})
	res, _ = c.do("GET", "/v1/tables/nope", nil)
	assert.Equal(t, 404, res.StatusCode)
	res, _ = c.do("GET", "/ready", nil)
	assert.Equal(t, 200, res.StatusCode)
	res, b = c.do("GET", "/", nil)
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, string(b), "<textarea id=\"sql\"")
	assert.Contains(t, res.Header.Get("Content-Security-Policy"), "default-src 'self'")
}

// (8) Bearer token auth on the API and metrics; health, readiness and the
// editor's static files stay open.
func TestHTTPAuth(t *testing.T) {
	c, _, _ := startServer(t, nil, "s3cret")
	anon := c
	anon.token = ""
	wrong := c
	wrong.token = "nope"
	for _, p := range []string{"/v1/tables", "/v1/saved", "/metrics"} {
		res, _ := anon.do("GET", p, nil)
		assert.Equal(t, 401, res.StatusCode, p)
		assert.Equal(t, `Bearer realm="trstream"`, res.Header.Get("WWW-Authenticate"))
		res, _ = wrong.do("GET", p, nil)
		assert.Equal(t, 401, res.StatusCode, p)
		res, _ = c.do("GET", p, nil)
		assert.Equal(t, 200, res.StatusCode, p)
	}
	res, _ := anon.do("POST", "/v1/query", QueryRequest{SQL: "SELECT 1"})
	assert.Equal(t, 401, res.StatusCode)
	code, _ := c.query(QueryRequest{SQL: "SELECT 1"})
	assert.Equal(t, 200, code)
	for _, p := range []string{"/healthz", "/ready", "/", "/app.js"} {
		res, _ := anon.do("GET", p, nil)
		assert.Equal(t, 200, res.StatusCode, p)
	}
}
