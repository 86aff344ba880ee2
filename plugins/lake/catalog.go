package lake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/uptrace/bun/driver/sqliteshim"

	// Registers iceberg-go's s3:// file IO for the table metadata.
	_ "github.com/apache/iceberg-go/io/gocloud/s3"
)

// Namespace and TableName identify the lake's one Iceberg table.
const (
	Namespace = "trstream"
	TableName = "transactions"
)

// DefaultS3CatalogURI is where an S3 lake keeps its SQLite catalog unless
// catalog_uri says otherwise.
const DefaultS3CatalogURI = "./.trstream/catalog.db"

// CatalogFile resolves the SQLite file of a lake's catalog, creating
// nothing: uri when given ("sqlite://", "sqlite:" and "file:" prefixes are
// accepted), else <lake>/_catalog/catalog.db for a local lake and
// DefaultS3CatalogURI for S3.
func CatalogFile(loc Location, uri string) (string, error) {
	for _, p := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		uri = strings.TrimPrefix(uri, p)
	}
	if uri == "" {
		if loc.IsS3() {
			uri = DefaultS3CatalogURI
		} else {
			uri = filepath.Join(loc.Local, "_catalog", "catalog.db")
		}
	}
	if strings.Contains(uri, "://") {
		return "", fmt.Errorf("catalog_uri %q: only a local SQLite file is supported", uri)
	}
	return filepath.Abs(uri)
}

// catalogPath is CatalogFile with its directory created.
func catalogPath(loc Location, uri string) (string, error) {
	abs, err := CatalogFile(loc, uri)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", fmt.Errorf("catalog_uri %q: %w", uri, err)
	}
	return abs, nil
}

// openCatalog opens the Iceberg sql catalog on a SQLite file. The driver is
// bun's sqliteshim, which on linux/amd64 and the other common targets is the
// pure Go modernc.org/sqlite (cgo mattn/go-sqlite3 elsewhere). WAL, a busy
// timeout and IMMEDIATE transactions make concurrent writers in several
// processes queue up instead of failing; the catalog's
// "UPDATE … WHERE metadata_location = <old>" is the compare-and-swap.
func openCatalog(loc Location, path string) (*sqlcat.Catalog, *sql.DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open(sqliteshim.ShimName, dsn)
	if err != nil {
		return nil, nil, err
	}
	db.SetMaxOpenConns(4)
	props := iceberg.Properties{}
	name := Namespace
	if loc.IsS3() {
		// One catalog file may serve several S3 lakes: key rows by lake.
		name = loc.URI()
		o := loc.S3
		props[iceio.S3Region] = o.Region
		if o.Endpoint != "" {
			props[iceio.S3EndpointURL] = o.Endpoint
		}
		if o.AccessKeyID != "" {
			props[iceio.S3AccessKeyID] = o.AccessKeyID
			props[iceio.S3SecretAccessKey] = o.SecretAccessKey
		}
		props[iceio.S3ForceVirtualAddressing] = strconv.FormatBool(!o.ForcePathStyle)
	}
	var cat *sqlcat.Catalog
	for attempt := 0; ; attempt++ {
		cat, err = sqlcat.NewCatalog(name, db, sqlcat.SQLite, props)
		if err == nil || attempt >= 5 || !strings.Contains(err.Error(), "locked") {
			break
		}
	}
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return cat, db, nil
}

// ensureTable loads the lake's table, creating the namespace and the table
// on first use. Concurrent creators race safely: the loser loads.
func ensureTable(ctx context.Context, cat catalog.Catalog, loc Location, part Partitioning) error {
	ident := catalog.ToIdentifier(Namespace, TableName)
	if ok, err := cat.CheckTableExists(ctx, ident); err != nil {
		return err
	} else if ok {
		return nil
	}
	if err := cat.CreateNamespace(ctx, catalog.ToIdentifier(Namespace), nil); err != nil &&
		!errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return fmt.Errorf("create namespace: %w", err)
	}
	sc, err := Schema()
	if err != nil {
		return err
	}
	spec := part.Spec()
	_, err = cat.CreateTable(ctx, ident, sc,
		catalog.WithLocation(loc.URI()),
		catalog.WithPartitionSpec(&spec),
		catalog.WithProperties(iceberg.Properties{
			"write.metadata.delete-after-commit.enabled": "true",
			"write.metadata.previous-versions-max":       "50",
			"write.format.default":                       "parquet",
			"write.parquet.compression-codec":            "zstd",
		}))
	if err != nil && !errors.Is(err, catalog.ErrTableAlreadyExists) {
		return fmt.Errorf("create table: %w", err)
	}
	return nil
}
