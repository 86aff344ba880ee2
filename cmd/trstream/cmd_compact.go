package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/trstream/trstream/plugins/lake"
)

// compactMemoryLimit is the Go heap's soft limit during `trstream compact`
// unless GOMEMLIMIT is set: the merge streams, so a low limit keeps the
// process's peak RSS well under 512 MiB at a small GC cost.
const compactMemoryLimit = 320 << 20

// compactCommand runs one compaction pass over the lake, the same code as
// the lake_compact processor.
func compactCommand() *cli.Command {
	return &cli.Command{
		Name:  "compact",
		Usage: "Bin-pack, sort and deduplicate the lake's small Parquet files into large ones, atomically",
		Description: `In every partition holding at least --min-input-files files smaller than
--min-file-size, merges those files in (event_time, transaction_id) order into
files of about --target-file-size, dropping exact duplicates, and swaps them in
with one Iceberg commit. Replaced files are deleted after --retention.

  trstream compact --lake ./lake --dry-run
  trstream compact --lake s3://data/trstream --s3-endpoint http://localhost:9000 --s3-force-path-style
  trstream compact --target-file-size 256MiB --retention 24h`,
		Flags: append(lakeOpenFlags(),
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan; write and delete nothing"},
			&cli.StringFlag{Name: "target-file-size", Value: "128MiB", Usage: "size of the output files"},
			&cli.StringFlag{Name: "min-file-size", Value: "32MiB", Usage: "only files smaller than this are compacted"},
			&cli.IntFlag{Name: "min-input-files", Value: lake.DefaultMinInputFiles, Usage: "compact a partition once it has this many small files"},
			&cli.IntFlag{Name: "row-group-rows", Value: lake.DefaultCompactRowGroup, Usage: "rows per Parquet row group of the output files"},
			&cli.DurationFlag{Name: "retention", Value: lake.DefaultRetention, Usage: "keep replaced files (and time travel to them) this long"},
			&cli.StringFlag{Name: "temp-dir", Usage: "directory for intermediate sorted runs and S3 input copies (default the system's)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON instead of text"},
		),
		Action: runCompact,
	}
}

func compactOptions(c *cli.Context) (lake.CompactOptions, error) {
	o := lake.DefaultCompactOptions()
	var err error
	if o.TargetFileSize, err = lake.ParseByteSize(c.String("target-file-size")); err != nil {
		return o, fmt.Errorf("--target-file-size: %w", err)
	}
	if o.MinFileSize, err = lake.ParseByteSize(c.String("min-file-size")); err != nil {
		return o, fmt.Errorf("--min-file-size: %w", err)
	}
	o.MinInputFiles = c.Int("min-input-files")
	o.RowGroupRows = c.Int("row-group-rows")
	o.Retention = c.Duration("retention")
	o.DryRun = c.Bool("dry-run")
	o.TempDir = c.String("temp-dir")
	if err := o.Validate(); err != nil {
		// Validate names config fields (target_file_size); say --flags.
		return o, errors.New("--" + strings.ReplaceAll(err.Error(), "_", "-"))
	}
	return o, nil
}

func runCompact(c *cli.Context) error {
	o, err := compactOptions(c)
	if err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Lower than a container's limit (gcpolicy), never higher.
		debug.SetMemoryLimit(min(debug.SetMemoryLimit(-1), compactMemoryLimit))
	}
	tbl, err := openLakeTable(c)
	if err != nil {
		return err
	}
	defer tbl.Close()
	w := c.App.Writer
	asJSON := c.Bool("json")
	if !asJSON {
		o.Progress = func(p lake.PartitionReport) {
			switch p.Status {
			case lake.StatusPlanned:
				fmt.Fprintf(w, "plan  %s: %d files, %d rows, %s → ~%d files\n",
					p.Partition, p.FilesIn, p.RowsIn, lake.FormatBytes(p.BytesIn), p.FilesOut)
			case lake.StatusWritten:
				fmt.Fprintf(w, "wrote %s: %d files → %d, %d rows → %d (%d duplicates), %s → %s in %.1fs\n",
					p.Partition, p.FilesIn, p.FilesOut, p.RowsIn, p.RowsOut, p.DuplicatesRemoved,
					lake.FormatBytes(p.BytesIn), lake.FormatBytes(p.BytesOut), p.Seconds)
			case lake.StatusConflict:
				fmt.Fprintf(w, "skip  %s: a concurrent compaction replaced its inputs first\n", p.Partition)
			default:
				fmt.Fprintf(w, "fail  %s: %s\n", p.Partition, p.Error)
			}
		}
	}
	rep, err := lake.Compact(c.Context, tbl, o)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			return jerr
		}
		return err
	}
	printCompactSummary(c, rep)
	return err
}

func printCompactSummary(c *cli.Context, rep lake.CompactReport) {
	w := c.App.Writer
	dur := time.Duration(rep.Seconds * float64(time.Second)).Round(time.Millisecond)
	if len(rep.Partitions) == 0 {
		fmt.Fprintf(w, "nothing to compact (%d partitions with too few small files) in %s\n", rep.PartitionsSkipped, dur)
		if rep.ExpiredSnapshots > 0 || rep.DeletedFiles > 0 {
			fmt.Fprintf(w, "expired %d snapshots, deleted %d unreferenced files\n", rep.ExpiredSnapshots, rep.DeletedFiles)
		}
		return
	}
	verb := "compacted"
	if rep.DryRun {
		verb = "dry run: would compact"
	}
	fmt.Fprintf(w, "%s %d partitions (%d skipped with too few small files)\n", verb, len(rep.Partitions), rep.PartitionsSkipped)
	fmt.Fprintf(w, "  files:      %d → %d\n", rep.FilesIn, rep.FilesOut)
	fmt.Fprintf(w, "  rows:       %d → %d\n", rep.RowsIn, rep.RowsOut)
	fmt.Fprintf(w, "  bytes:      %s → %s\n", lake.FormatBytes(rep.BytesIn), lake.FormatBytes(rep.BytesOut))
	fmt.Fprintf(w, "  duplicates: %d removed\n", rep.DuplicatesRemoved)
	if !rep.DryRun {
		fmt.Fprintf(w, "  commits:    %d %v, %d partitions lost to a concurrent compaction\n", rep.Commits, rep.SnapshotIDs, rep.Conflicts)
		fmt.Fprintf(w, "  retention:  expired %d snapshots, deleted %d unreferenced files\n", rep.ExpiredSnapshots, rep.DeletedFiles)
	}
	if rep.Warning != "" {
		fmt.Fprintf(w, "  warning:    %s\n", rep.Warning)
	}
	fmt.Fprintf(w, "  duration:   %s\n", dur)
}
