package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/plugins/query"
)

// serveCommand serves the query HTTP API and the web SQL editor.
func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "Serve the lake's SQL API and web editor",
		Description: `Serves POST /v1/query, /v1/tables, /v1/saved, /metrics, /healthz, /ready
and the web SQL editor at /. Binds 127.0.0.1 unless --addr says otherwise;
set --token (or TRSTREAM_TOKEN) before binding anything else.`,
		Flags: append(lakeFlags(),
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8090", Usage: "listen address"},
			&cli.StringFlag{Name: "token", EnvVars: []string{"TRSTREAM_TOKEN"}, Usage: "require Authorization: Bearer <token> on the API"},
			&cli.DurationFlag{Name: "timeout", Value: query.DefaultTimeout, Usage: "interrupt a query that runs longer"},
			&cli.IntFlag{Name: "max-rows", Value: query.DefaultMaxRows, Usage: "row cap of JSON results (streamed ndjson/csv only honour an explicit limit)"},
		),
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	c.Context = ctx
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	e, err := openEngine(c, c.Duration("timeout"), c.Int("max-rows"))
	if err != nil {
		return err
	}
	defer e.Close()

	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           query.NewServer(e, query.ServerOptions{Token: c.String("token"), Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); c.String("token") == "" && !net.ParseIP(host).IsLoopback() {
		log.Warn("serving the SQL API on a non-loopback address without --token", "addr", ln.Addr().String())
	}
	log.Info("trstream serve", "url", fmt.Sprintf("http://%s/", ln.Addr()), "lake", c.String("lake"))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
