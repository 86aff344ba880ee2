package main

import "github.com/urfave/cli/v2"

// devCommand is not built yet.
func devCommand() *cli.Command { return nil }
