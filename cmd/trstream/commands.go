package main

import "github.com/urfave/cli/v2"

// commands lists trstream's own subcommands. Each lives in its own file and
// calls the same package as the plugin it mirrors.
func commands() []*cli.Command {
	var cs []*cli.Command
	for _, c := range []func() *cli.Command{devCommand, topicsCommand, lakeCommand, compactCommand, sqlCommand, serveCommand, docsCommand} {
		if cmd := c(); cmd != nil {
			cs = append(cs, cmd)
		}
	}
	return cs
}
