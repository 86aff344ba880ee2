package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/internal/devstack"
	"github.com/trstream/trstream/internal/topics"
	"github.com/trstream/trstream/plugins/lake"
)

// devCommand runs the whole flow locally with no Docker: an embedded broker,
// the topics, every pipeline and the query server.
func devCommand() *cli.Command {
	return &cli.Command{
		Name:      "dev",
		Usage:     "Run the whole pipeline locally on an embedded Kafka-protocol broker (development only)",
		ArgsUsage: "[pipeline.yaml ...]",
		Description: `Starts franz-go's kfake broker on 127.0.0.1 (for development, not
production), applies redpanda/topics.yaml, then runs each pipeline (default:
every pipelines/*.yaml) as its own "trstream -c FILE" process with
TRSTREAM_BROKERS pointing at the broker, and "trstream serve" for SQL over the
lake. Ctrl+C stops everything.

The broker keeps its log in --data-dir, so a restart carries on where the last
run stopped: the lake's committed offsets still name the same records. A
broker whose log starts empty (--in-memory, or a new directory) numbers its
records from 0 again; on a lake that committed offsets of its topics, dev
refuses to start rather than have the lake refuse those records.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", Value: 9092, Usage: "broker port on 127.0.0.1 (0 picks a free one)"},
			&cli.StringFlag{Name: "data-dir", Value: ".trstream/broker", Usage: "directory of the broker's log, kept across runs"},
			&cli.BoolFlag{Name: "in-memory", Usage: "keep the broker's log in memory, lost on exit (use a new lake each run)"},
			&cli.StringFlag{Name: "topics", Value: "redpanda/topics.yaml", Usage: "topic definitions to apply"},
			&cli.StringFlag{Name: "lake", Value: "./lake", EnvVars: []string{"TRSTREAM_LAKE"}, Usage: "lake location for the pipelines and the query server"},
			&cli.IntFlag{Name: "http-port", Value: 4195, Usage: "HTTP port (metrics, /ready) of the first pipeline; the next ones count up"},
			&cli.StringFlag{Name: "serve-addr", Value: "127.0.0.1:8090", Usage: "address of the SQL editor and API; empty to skip"},
			&cli.DurationFlag{Name: "duration", Usage: "stop after this long (default: run until interrupted)"},
		},
		Action: func(c *cli.Context) error {
			pipelines := c.Args().Slice()
			if len(pipelines) == 0 {
				pipelines, _ = filepath.Glob("pipelines/*.yaml")
			}
			if len(pipelines) == 0 {
				return devstack.ErrNoPipelines
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			lake := c.String("lake")
			dataDir := c.String("data-dir")
			if c.Bool("in-memory") {
				dataDir = ""
			}
			if err := checkLakeOffsets(c.Context, lake, dataDir, c.String("topics")); err != nil {
				return err
			}
			cfg := devstack.Config{
				BrokerPort:    c.Int("port"),
				DataDir:       dataDir,
				TopicsFile:    c.String("topics"),
				Pipelines:     pipelines,
				FirstHTTPPort: c.Int("http-port"),
				Binary:        self,
				Env:           []string{"TRSTREAM_LAKE=" + lake},
				Out:           c.App.Writer,
			}
			if addr := c.String("serve-addr"); addr != "" && serveCommand() != nil {
				cfg.Extra = append(cfg.Extra, devstack.Process{Name: "serve", Args: []string{"serve", "--lake", lake, "--addr", addr}})
			}
			stack, err := devstack.Start(c.Context, cfg)
			if err != nil {
				return err
			}
			w := c.App.Writer
			where := "in memory"
			if dataDir != "" {
				where = "log in " + dataDir
			}
			fmt.Fprintf(w, "trstream dev: embedded broker (kfake, %s, development only) on %s\n", where, stack.Brokers)
			for i, p := range stack.Procs {
				if i < len(pipelines) {
					fmt.Fprintf(w, "  %-8s %s  metrics http://127.0.0.1:%d/metrics\n", p.Name, pipelines[i], cfg.FirstHTTPPort+i)
				} else {
					fmt.Fprintf(w, "  %-8s SQL editor http://%s/\n", p.Name, c.String("serve-addr"))
				}
			}
			fmt.Fprintf(w, "  lake     %s\nCtrl+C stops everything.\n", lake)

			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			var timeout <-chan time.Time
			if d := c.Duration("duration"); d > 0 {
				timeout = time.After(d)
			}
			select {
			case <-sig:
			case <-timeout:
			case err = <-stack.Failed():
			}
			fmt.Fprintln(w, "trstream dev: stopping")
			stack.Stop()
			return err
		},
	}
}

// checkLakeOffsets refuses to start a broker whose log starts empty on a
// local lake that committed offsets of the broker's topics. The new log
// numbers its records from 0 again, below those offsets, and parquet_lake
// would refuse every one of them (it cannot tell them from replays of
// records it landed, except that the log ends too early).
func checkLakeOffsets(ctx context.Context, lakeLoc, dataDir, topicsFile string) error {
	if dataDir != "" && devstack.HasLog(dataDir) {
		return nil // the log of an earlier run
	}
	loc, err := lake.ParseLocation(lakeLoc, lake.S3Options{})
	if err != nil || loc.IsS3() {
		return nil // an S3 lake: parquet_lake still refuses such records
	}
	// The catalog the pipelines will use: lake.yaml reads TRSTREAM_CATALOG_URI.
	catalog := os.Getenv("TRSTREAM_CATALOG_URI")
	file, err := lake.CatalogFile(loc, catalog)
	if err != nil {
		return err
	}
	if _, err := os.Stat(file); err != nil {
		return nil // no table yet
	}
	defs, err := topics.Load(topicsFile)
	if err != nil {
		return err
	}
	tbl, err := lake.Open(ctx, loc, lake.WithCatalogURI(catalog))
	if err != nil {
		return fmt.Errorf("reading the offsets of lake %s: %w", lakeLoc, err)
	}
	defer tbl.Close()
	offs, err := tbl.Offsets(ctx)
	if err != nil {
		return fmt.Errorf("reading the offsets of lake %s: %w", lakeLoc, err)
	}
	for _, d := range defs {
		if parts := offs[d.Name]; len(parts) > 0 {
			log := "in memory"
			if dataDir != "" {
				log = "in the new directory " + dataDir
			}
			return fmt.Errorf("lake %s holds committed offsets of topic %s (%d partitions) from another broker, and this broker's log starts empty (%s): "+
				"its offsets start from 0 again, so the lake would refuse its records. Run with the --data-dir of the run that filled this lake, "+
				"or with another --lake, or move %s away, or drop its offsets (trstream lake reset-offsets --lake %s --topic %s)", lakeLoc, d.Name, len(parts), log, lakeLoc, lakeLoc, d.Name)
		}
	}
	return nil
}
