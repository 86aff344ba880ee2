package main

import "github.com/urfave/cli/v2"

// compactCommand is not built yet.
func compactCommand() *cli.Command { return nil }
