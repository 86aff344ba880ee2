package main

import "github.com/urfave/cli/v2"

// sqlCommand is not built yet.
func sqlCommand() *cli.Command { return nil }
