package main

import "github.com/urfave/cli/v2"

// docsCommand is not built yet.
func docsCommand() *cli.Command { return nil }
