package main

import "github.com/urfave/cli/v2"

// lakeCommand is not built yet.
func lakeCommand() *cli.Command { return nil }
