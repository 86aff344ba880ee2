package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/plugins/lake"
)

// lakeCommand inspects the lake's Iceberg table: its files, snapshots and
// committed Kafka offsets.
func lakeCommand() *cli.Command {
	return &cli.Command{
		Name:  "lake",
		Usage: "Inspect the Parquet lake's Iceberg table",
		Description: `Reads the lake's table (trstream.transactions) through its catalog.

  trstream lake files --lake ./lake
  trstream lake snapshots --lake s3://data/trstream --s3-endpoint http://localhost:9000 --s3-force-path-style
  trstream lake offsets
  trstream lake reset-offsets --topic transactions`,
		Subcommands: []*cli.Command{
			{
				Name:   "files",
				Usage:  "List the current snapshot's data files, one path a line",
				Flags:  lakeOpenFlags(),
				Action: runLakeFiles,
			},
			{
				Name:   "snapshots",
				Usage:  "List the table's snapshots",
				Flags:  lakeOpenFlags(),
				Action: runLakeSnapshots,
			},
			{
				Name:   "offsets",
				Usage:  "Print the committed Kafka offsets: topic partition next_offset",
				Flags:  lakeOpenFlags(),
				Action: runLakeOffsets,
			},
			{
				Name:  "reset-offsets",
				Usage: "Drop a topic's committed offsets, so its records land from the start of its log again",
				Description: `For a topic that was deleted and created again, or a broker that lost its
log: its offsets count from 0 again, and parquet_lake refuses the records of a
log that ends below the offsets the lake committed, or whose records below them
are newer than any the lake committed there. Stop the lake's writers first
(a running writer merges its own offsets back on its next commit). Prints the
dropped offsets: topic partition next_offset.`,
				Flags:  append(lakeOpenFlags(), &cli.StringFlag{Name: "topic", Required: true, Usage: "the topic whose offsets to drop"}),
				Action: runLakeResetOffsets,
			},
		},
	}
}

// lakeOpenFlags locate the lake and its catalog.
func lakeOpenFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "lake", EnvVars: []string{"TRSTREAM_LAKE"}, Value: "./lake", Usage: "lake directory or s3://bucket/prefix"},
		&cli.StringFlag{Name: "catalog-uri", EnvVars: []string{"TRSTREAM_CATALOG_URI"}, Usage: "SQLite catalog file (default <lake>/_catalog/catalog.db, or " + lake.DefaultS3CatalogURI + " for S3)"},
		&cli.StringFlag{Name: "s3-endpoint", EnvVars: []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}, Usage: "S3-compatible endpoint"},
		&cli.StringFlag{Name: "s3-region", EnvVars: []string{"AWS_REGION", "AWS_DEFAULT_REGION"}, Usage: "S3 region"},
		&cli.StringFlag{Name: "s3-access-key-id", EnvVars: []string{"AWS_ACCESS_KEY_ID"}, Usage: "S3 access key id"},
		&cli.StringFlag{Name: "s3-secret-access-key", EnvVars: []string{"AWS_SECRET_ACCESS_KEY"}, Usage: "S3 secret access key"},
		&cli.BoolFlag{Name: "s3-force-path-style", EnvVars: []string{"AWS_S3_FORCE_PATH_STYLE"}, Usage: "address buckets by path"},
	}
}

// lakeLocation parses --lake and the S3 flags.
func lakeLocation(c *cli.Context) (lake.Location, error) {
	return lake.ParseLocation(c.String("lake"), lake.S3Options{
		Endpoint:        c.String("s3-endpoint"),
		Region:          c.String("s3-region"),
		AccessKeyID:     c.String("s3-access-key-id"),
		SecretAccessKey: c.String("s3-secret-access-key"),
		ForcePathStyle:  c.Bool("s3-force-path-style"),
	})
}

func openLakeTable(c *cli.Context) (*lake.Table, error) {
	loc, err := lakeLocation(c)
	if err != nil {
		return nil, err
	}
	if !loc.IsS3() {
		if _, err := os.Stat(loc.Local); err != nil {
			return nil, fmt.Errorf("lake %s: %w", loc.Local, err)
		}
	}
	return lake.Open(c.Context, loc, lake.WithCatalogURI(c.String("catalog-uri")))
}

func runLakeFiles(c *cli.Context) error {
	tbl, err := openLakeTable(c)
	if err != nil {
		return err
	}
	defer tbl.Close()
	files, err := tbl.Files(c.Context)
	if err != nil {
		return err
	}
	w := c.App.Writer
	for _, f := range files {
		fmt.Fprintln(w, f.Path)
	}
	return nil
}

func runLakeSnapshots(c *cli.Context) error {
	tbl, err := openLakeTable(c)
	if err != nil {
		return err
	}
	defer tbl.Close()
	snaps, err := tbl.Snapshots(c.Context)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SNAPSHOT_ID\tTIME\tOPERATION\tADDED_ROWS\tADDED_FILES\tROWS\tFILES")
	for _, s := range snaps {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%d\t%d\n", s.ID, s.Time.Format(time.RFC3339Nano), s.Operation,
			s.AddedRows, s.AddedFiles, s.Rows, s.Files)
	}
	return tw.Flush()
}

func runLakeOffsets(c *cli.Context) error {
	tbl, err := openLakeTable(c)
	if err != nil {
		return err
	}
	defer tbl.Close()
	offs, err := tbl.Offsets(c.Context)
	if err != nil {
		return err
	}
	printOffsets(c.App.Writer, offs)
	return nil
}

// printOffsets writes offs a line each: topic partition next_offset.
func printOffsets(w io.Writer, offs lake.Offsets) {
	for _, e := range offs.Sorted() {
		fmt.Fprintf(w, "%s %d %d\n", e.Topic, e.Partition, e.NextOffset)
	}
}

func runLakeResetOffsets(c *cli.Context) error {
	tbl, err := openLakeTable(c)
	if err != nil {
		return err
	}
	defer tbl.Close()
	topic := c.String("topic")
	dropped, err := tbl.ResetOffsets(c.Context, topic)
	if err != nil {
		return err
	}
	printOffsets(c.App.Writer, lake.Offsets{topic: dropped})
	return nil
}
