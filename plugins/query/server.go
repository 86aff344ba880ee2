package query

import (
	"crypto/subtle"
	"embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed web
var webFS embed.FS

// ServerOptions configures the HTTP API.
type ServerOptions struct {
	// Token, if set, is required as "Authorization: Bearer <token>" on the
	// API and /metrics. The web editor's static files, /healthz and /ready
	// stay open (the editor asks for the token).
	Token  string
	Logger *slog.Logger
}

// Server is the HTTP API and web editor over an Engine.
type Server struct {
	e    *Engine
	opts ServerOptions
	mux  *http.ServeMux
	reg  *prometheus.Registry

	queries  prometheus.Counter
	errors   *prometheus.CounterVec
	timeouts prometheus.Counter
	seconds  prometheus.Histogram
}

// NewServer builds the HTTP handler.
func NewServer(e *Engine, opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{e: e, opts: opts, mux: http.NewServeMux(), reg: prometheus.NewRegistry()}
	s.queries = prometheus.NewCounter(prometheus.CounterOpts{Name: "query_total", Help: "Queries received by the query API."})
	s.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "query_errors_total", Help: "Queries that failed, by kind (invalid, refused, timeout, canceled, internal)."}, []string{"kind"})
	s.timeouts = prometheus.NewCounter(prometheus.CounterOpts{Name: "query_timeouts_total", Help: "Queries interrupted by the timeout."})
	s.seconds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "query_seconds", Help: "Query duration, including streaming the result.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}})
	s.reg.MustRegister(s.queries, s.errors, s.timeouts, s.seconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, k := range []Kind{KindInvalid, KindRefused, KindTimeout, KindCanceled, KindInternal} {
		s.errors.WithLabelValues(k.String())
	}

	api := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, s.auth(h)) }
	api("POST /v1/query", s.handleQuery)
	api("GET /v1/tables", s.handleTables)
	api("GET /v1/tables/{name}", s.handleTable)
	api("GET /v1/saved", s.handleSavedList)
	api("POST /v1/saved", s.handleSavedPut)
	api("GET /v1/saved/{name}", s.handleSavedGet)
	api("PUT /v1/saved/{name}", s.handleSavedPut)
	api("DELETE /v1/saved/{name}", s.handleSavedDelete)
	s.mux.Handle("GET /metrics", s.auth(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}).ServeHTTP))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /ready", s.handleReady)
	sub, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(sub)
	s.mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	s.mux.ServeHTTP(w, r)
}

// Registry is the server's own Prometheus registry.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

func (s *Server) auth(h http.HandlerFunc) http.Handler {
	if s.opts.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.opts.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trstream"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		h(w, r)
	})
}

// QueryRequest is the body of POST /v1/query.
type QueryRequest struct {
	SQL string `json:"sql"`
	// Limit caps the rows: for json at most the server's max rows (the
	// default), for ndjson and csv no cap unless set.
	Limit int `json:"limit"`
	// Format is json (default), ndjson or csv; ndjson and csv stream.
	Format string `json:"format"`
}

func (s *Server) handleQuery(w http.ResponseWriter, r *http.Request) {
	var req QueryRequest
	if err := decodeBody(w, r, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	start := time.Now()
	s.queries.Inc()
	var err error
	switch strings.ToLower(req.Format) {
	case "", "json":
		var res *Result
		res, err = s.e.Query(r.Context(), req.SQL, req.Limit)
		if err == nil {
			writeJSON(w, http.StatusOK, res)
		}
	case "ndjson", "jsonl":
		err = s.streamNDJSON(w, r, req)
	case "csv":
		err = s.streamCSV(w, r, req)
	default:
		err = &Error{Kind: KindInvalid, Msg: `unknown format: use "json", "ndjson" or "csv"`}
	}
	s.seconds.Observe(time.Since(start).Seconds())
	if err != nil {
		k := ErrorKind(err)
		s.errors.WithLabelValues(k.String()).Inc()
		if k == KindTimeout {
			s.timeouts.Inc()
		}
		var started *streamStarted
		if !errors.As(err, &started) {
			writeError(w, err)
		}
		if k == KindInternal {
			s.opts.Logger.Warn("query failed", "error", err)
		}
	}
}

// streamStarted marks an error after the response began: the status is sent.
type streamStarted struct{ err error }

func (e *streamStarted) Error() string { return e.err.Error() }
func (e *streamStarted) Unwrap() error { return e.err }

// streamWriter flushes every so many rows so the client sees progress.
type streamWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
	n  int
}

func (sw *streamWriter) row() error {
	sw.n++
	if sw.n%1000 == 0 {
		return sw.rc.Flush()
	}
	return nil
}

func (s *Server) streamNDJSON(w http.ResponseWriter, r *http.Request, req QueryRequest) error {
	sw := &streamWriter{w: w, rc: http.NewResponseController(w)}
	var keys [][]byte
	var buf []byte
	started := false
	truncated, err := s.e.Stream(r.Context(), req.SQL, req.Limit, func(cols []Column) error {
		for _, c := range cols {
			k, _ := json.Marshal(c.Name)
			keys = append(keys, k)
		}
		startStream(w, "application/x-ndjson", cols)
		started = true
		return nil
	}, func(row []any) error {
		var err error
		buf, err = AppendRowObject(buf[:0], keys, row)
		if err != nil {
			return err
		}
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return err
		}
		return sw.row()
	})
	return finishStream(w, started, truncated, err, func(msg string) {
		b, _ := json.Marshal(map[string]string{"error": msg})
		w.Write(append(b, '\n'))
	})
}

func (s *Server) streamCSV(w http.ResponseWriter, r *http.Request, req QueryRequest) error {
	sw := &streamWriter{w: w, rc: http.NewResponseController(w)}
	cw := csv.NewWriter(w)
	var rec []string
	started := false
	truncated, err := s.e.Stream(r.Context(), req.SQL, req.Limit, func(cols []Column) error {
		startStream(w, "text/csv; charset=utf-8", cols)
		started = true
		rec = make([]string, len(cols))
		for i, c := range cols {
			rec[i] = c.Name
		}
		return cw.Write(rec)
	}, func(row []any) error {
		for i, v := range row {
			rec[i] = Text(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
		if (sw.n+1)%1000 == 0 {
			cw.Flush()
		}
		return sw.row()
	})
	cw.Flush()
	return finishStream(w, started, truncated, err, nil)
}

// startStream sends the headers of a streamed result. The columns and their
// types travel in a header; truncation and late errors in trailers.
func startStream(w http.ResponseWriter, contentType string, cols []Column) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	b, _ := json.Marshal(cols)
	h.Set("X-Trstream-Columns", string(b))
	h.Set("Trailer", "X-Trstream-Truncated, X-Trstream-Error")
	w.WriteHeader(http.StatusOK)
}

func finishStream(w http.ResponseWriter, started, truncated bool, err error, lateErr func(string)) error {
	if err == nil {
		if truncated {
			w.Header().Set("X-Trstream-Truncated", "true")
		} else {
			w.Header().Set("X-Trstream-Truncated", "false")
		}
		return nil
	}
	if !started {
		return err
	}
	w.Header().Set("X-Trstream-Error", strings.ReplaceAll(err.Error(), "\n", " "))
	if lateErr != nil {
		lateErr(err.Error())
	}
	return &streamStarted{err}
}

func (s *Server) handleTables(w http.ResponseWriter, r *http.Request) {
	ts, err := s.e.Tables(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tables": ts})
}

func (s *Server) handleTable(w http.ResponseWriter, r *http.Request) {
	t, err := s.e.Table(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) handleSavedList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"saved": s.e.SavedQueries()})
}

func (s *Server) handleSavedGet(w http.ResponseWriter, r *http.Request) {
	q, err := s.e.SavedQuery(r.PathValue("name"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

func (s *Server) handleSavedPut(w http.ResponseWriter, r *http.Request) {
	var q SavedQuery
	if err := decodeBody(w, r, &q); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	status := http.StatusCreated
	if name := r.PathValue("name"); name != "" {
		if q.Name != "" && q.Name != name {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name in body and path differ"})
			return
		}
		q.Name = name
		if _, err := s.e.SavedQuery(name); err == nil {
			status = http.StatusOK
		}
	}
	saved, err := s.e.SaveQuery(r.Context(), SavedQuery{Name: q.Name, SQL: q.SQL, Description: q.Description})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, status, saved)
}

func (s *Server) handleSavedDelete(w http.ResponseWriter, r *http.Request) {
	if err := s.e.DeleteSavedQuery(r.Context(), r.PathValue("name")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := s.e.Ping(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		return
	}
	if _, err := s.e.opts.Source.Files(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// StatusOf maps an error to its HTTP status.
func StatusOf(err error) int {
	switch ErrorKind(err) {
	case KindInvalid:
		return http.StatusBadRequest
	case KindRefused:
		return http.StatusForbidden
	case KindTimeout:
		return http.StatusGatewayTimeout
	case KindCanceled:
		return 499 // client closed request
	case KindNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	body := map[string]string{"error": err.Error(), "kind": ErrorKind(err).String()}
	writeJSON(w, StatusOf(err), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("bad request body: " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("bad request body: trailing data")
	}
	return nil
}
