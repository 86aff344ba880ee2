package main

import "github.com/urfave/cli/v2"

// serveCommand is not built yet.
func serveCommand() *cli.Command { return nil }
