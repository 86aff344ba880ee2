package main

import (
	"fmt"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/internal/docsgen"
)

// docsCommand regenerates docs/components from the components' ConfigSpecs.
func docsCommand() *cli.Command {
	return &cli.Command{
		Name:  "docs",
		Usage: "Write the reference docs of trstream's components, generated from their specs",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Value: "docs/components", Usage: "output directory"},
		},
		Action: func(c *cli.Context) error {
			if err := docsgen.Write(c.String("dir"), service.GlobalEnvironment()); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s\n", c.String("dir"))
			return nil
		},
	}
}
