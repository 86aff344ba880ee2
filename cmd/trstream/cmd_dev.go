package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/internal/devstack"
)

// devCommand runs the whole flow locally with no Docker: an embedded broker,
// the topics, every pipeline and the query server.
func devCommand() *cli.Command {
	return &cli.Command{
		Name:      "dev",
		Usage:     "Run the whole pipeline locally on an embedded, in-memory Kafka-protocol broker (development only)",
		ArgsUsage: "[pipeline.yaml ...]",
		Description: `Starts franz-go's kfake broker on 127.0.0.1 (in memory unless --data-dir
is set; it is for development, not production), applies redpanda/topics.yaml,
then runs each pipeline (default: every pipelines/*.yaml) as its own
"trstream -c FILE" process with TRSTREAM_BROKERS pointing at the broker, and
"trstream serve" for SQL over the lake. Ctrl+C stops everything.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", Value: 9092, Usage: "broker port on 127.0.0.1 (0 picks a free one)"},
			&cli.StringFlag{Name: "data-dir", Usage: "persist the broker's log in this directory (default: in memory)"},
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
			cfg := devstack.Config{
				BrokerPort:    c.Int("port"),
				DataDir:       c.String("data-dir"),
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
			fmt.Fprintf(w, "trstream dev: embedded broker (kfake, in memory, development only) on %s\n", stack.Brokers)
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
