package main

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/internal/topics"
)

// topicsCommand applies redpanda/topics.yaml: compose's bootstrap step.
func topicsCommand() *cli.Command {
	return &cli.Command{
		Name:  "topics",
		Usage: "Create or update the topics defined in redpanda/topics.yaml",
		Subcommands: []*cli.Command{{
			Name:  "apply",
			Usage: "Create missing topics, set their configs, add partitions (never removes anything)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "brokers", Value: "127.0.0.1:9092", EnvVars: []string{"TRSTREAM_BROKERS"}, Usage: "comma-separated seed brokers"},
				&cli.StringFlag{Name: "file", Value: "redpanda/topics.yaml", Usage: "topic definitions"},
				&cli.IntFlag{Name: "replication-factor", Usage: "override every topic's replication factor (0 keeps the file's)"},
			},
			Action: func(c *cli.Context) error {
				defs, err := topics.Load(c.String("file"))
				if err != nil {
					return err
				}
				cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(c.String("brokers"), ",")...))
				if err != nil {
					return err
				}
				defer cl.Close()
				res, err := topics.Apply(c.Context, kadm.NewClient(cl), defs, int16(c.Int("replication-factor")))
				for _, r := range res {
					fmt.Fprintf(c.App.Writer, "%-24s %s\n", r.Topic, r.Action)
				}
				return err
			},
		}},
	}
}
